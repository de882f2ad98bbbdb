import { Effect, Either, Schedule, Stream } from "effect"
import { Bitrix } from "effect-bitrix24"

export const oneCall = Bitrix.call("crm.deal.get", { ID: 1 })

// auto-batched: 10,000 updates go as 200 batches of 50, in parallel within the limits
export const bulkUpdate = Bitrix.call(
  "crm.deal.update",
  [1, 2, 3].map((ID) => ({ ID, fields: { STAGE_ID: "WON" } }))
)

// one Either per item instead of failing on the first bad one
export const eachOutcome = Bitrix.callEither("crm.deal.get", [{ ID: 1 }, { ID: 999999 }]).pipe(
  Effect.map((outcomes) => outcomes.map(Either.isRight))
)

// sent as given: null values, positional params, the whole envelope back (result, next, total, time)
export const raw = Bitrix.callRaw("crm.deal.update", { ID: 1, fields: { COMMENTS: null } })

// the portal's batch as it is, with $result references between commands
export const batch = Bitrix.callBatch({
  halt: true,
  cmd: {
    deal: { method: "crm.deal.add", params: { fields: { TITLE: "New deal" } } },
    contacts: "crm.deal.contact.items.get?id=$result[deal]"
  }
})

// a Map keyed by ID, in the order of the IDs
export const byId = Bitrix.getByID("crm.deal.contact.items.get", [7, 3, 12], { idField: "id" })

// the whole list, or a stream of it with backpressure
export const everything = Bitrix.getAll("crm.deal.list", { select: ["*", "UF_*"], filter: { CATEGORY_ID: 3 } })
export const firstThousand = Bitrix.stream("crm.deal.list", { select: ["ID"] }).pipe(Stream.take(1000), Stream.runCollect)

// a lower ceiling for this program only; other fibers keep full speed
export const gentle = Bitrix.slow(Bitrix.getAll("crm.lead.list"), { maxConcurrent: 2, requestsPerSecond: 1 })

// another retry schedule for one program
export const patient = Bitrix.getAll("crm.contact.list").pipe(
  Bitrix.withRetry(Schedule.exponential("1 second").pipe(Schedule.intersect(Schedule.recurs(20))))
)
