import { describe, expect, it } from "@effect/vitest"
import {
  createdStepMs,
  dealCategories,
  dealStageCodes,
  dealStageId,
  dealStages,
  formatDate,
  formatDateTime,
  hash3,
  hashString,
  idsWithGaps,
  leadTitle,
  personName,
  random,
  smartProcessStages,
  transliterate,
  weightedIndex,
  weightedPicker
} from "../../src/testing/internal/seed.js"

describe("hash3 / hashString", () => {
  it("is deterministic and sensitive to every argument", () => {
    expect(hash3(1, 2, 3)).toBe(hash3(1, 2, 3))
    const variants = new Set([hash3(1, 2, 3), hash3(2, 2, 3), hash3(1, 3, 3), hash3(1, 2, 4)])
    expect(variants.size).toBe(4)
    expect(hash3(1, 2, 3)).toBeGreaterThanOrEqual(0)
    expect(hash3(1, 2, 3)).toBeLessThan(2 ** 32)
  })

  it("gives different salts for different names", () => {
    expect(hashString("crm.deal")).toBe(hashString("crm.deal"))
    expect(hashString("crm.deal")).not.toBe(hashString("crm.lead"))
  })
})

describe("random", () => {
  it("repeats its sequence for the same seed and stays in range", () => {
    const a = random(42)
    const b = random(42)
    const seqA = Array.from({ length: 20 }, () => a.float())
    const seqB = Array.from({ length: 20 }, () => b.float())
    expect(seqA).toEqual(seqB)
    expect(seqA.every((x) => x >= 0 && x < 1)).toBe(true)
    const c = random(43)
    expect(Array.from({ length: 20 }, () => c.float())).not.toEqual(seqA)
    const r = random(7)
    const drawn = new Set(Array.from({ length: 1000 }, () => r.between(3, 5)))
    expect([...drawn].sort()).toEqual([3, 4, 5])
  })
})

describe("weightedPicker", () => {
  it("agrees with weightedIndex and follows the weights", () => {
    const weights = dealCategories.map((c) => c.weight)
    const pick = weightedPicker(weights)
    const counts = new Array<number>(weights.length).fill(0)
    const n = 100_000
    let disagreements = 0
    for (let i = 0; i < n; i++) {
      const h = hash3(9, 9, i)
      const index = pick(h)
      if (index !== weightedIndex(weights, h)) disagreements++
      counts[index]!++
    }
    expect(disagreements).toBe(0)
    const total = weights.reduce((a, b) => a + b, 0)
    weights.forEach((w, i) => expect(Math.abs(counts[i]! / n - w / total)).toBeLessThan(0.01))
  })
})

describe("idsWithGaps", () => {
  it("is ascending, starts at the first ID, has gaps and is deterministic", () => {
    const ids = idsWithGaps(1, hashString("crm.deal"), 10_000)
    expect(ids[0]).toBe(1)
    let gaps = 0
    let descents = 0
    for (let i = 1; i < ids.length; i++) {
      if (ids[i]! <= ids[i - 1]!) descents++
      if (ids[i]! - ids[i - 1]! > 1) gaps++
    }
    expect(descents).toBe(0)
    expect(gaps).toBeGreaterThan(2000)
    expect(gaps).toBeLessThan(4000)
    expect(idsWithGaps(1, hashString("crm.deal"), 10_000)).toEqual(ids)
    expect(idsWithGaps(2, hashString("crm.deal"), 10_000)).not.toEqual(ids)
    expect(idsWithGaps(1, 5, 3, 100)[0]).toBe(100)
  })
})

describe("dates", () => {
  it("prints Bitrix date-times in portal time (+03:00)", () => {
    const ms = Date.UTC(2022, 4, 21, 9, 0, 12)
    expect(formatDateTime(ms)).toBe("2022-05-21T12:00:12+03:00")
    expect(formatDateTime(ms, 0)).toBe("2022-05-21T09:00:12+00:00")
    expect(formatDateTime(ms, -330)).toBe("2022-05-21T03:30:12-05:30")
  })

  it("prints date-only fields at UTC midnight in portal time, as the crm_item_list fixture does", () => {
    expect(formatDate(Date.UTC(2024, 3, 19, 15, 30))).toBe("2024-04-19T03:00:00+03:00")
  })

  it("spreads creation dates over about four years whatever the table size", () => {
    expect(createdStepMs(1000) * 1000).toBeGreaterThan(3.9 * 365 * 86_400_000)
    expect(createdStepMs(10_000_000)).toBe(60_000)
  })
})

describe("pipelines", () => {
  it("prefixes stage IDs of non-default categories", () => {
    expect(dealStageId(0, "WON")).toBe("WON")
    expect(dealStageId(3, "WON")).toBe("C3:WON")
    const stages = dealStages(2)
    expect(stages.map((s) => s.STATUS_ID)).toEqual(dealStageCodes.map((s) => `C2:${s.code}`))
    expect(stages.map((s) => s.SORT)).toEqual(dealStageCodes.map((_, i) => (i + 1) * 10))
    expect(smartProcessStages(1032, 7)[0]?.STATUS_ID).toBe("DT1032_7:NEW")
  })

  it("keeps about 10 % of deals in categories 3 and 4 each", () => {
    const total = dealCategories.reduce((a, c) => a + c.weight, 0)
    expect(dealCategories.find((c) => c.id === 3)!.weight / total).toBe(0.1)
    expect(dealCategories.find((c) => c.id === 4)!.weight / total).toBe(0.1)
  })
})

describe("names and titles", () => {
  it("makes gendered Russian names and fixture-like lead titles", () => {
    const r = random(5)
    for (let i = 0; i < 50; i++) {
      const person = personName(r)
      if (person.gender === "F") {
        expect(person.lastName.endsWith("а")).toBe(true)
        expect(person.secondName.endsWith("на")).toBe(true)
      } else expect(person.secondName.endsWith("ич")).toBe(true)
    }
    expect(leadTitle(random(1))).toMatch(/^.+, \d+К\d: \d+%, \d\.\d, эт\. \d+\/\d+, \d+\.\d -> \d+\.\d/)
    expect(transliterate("Щукина Юлия")).toBe("schukinayuliya")
  })
})
