/**
 * Deterministic data generators for the fake portal: a small hash and PRNG, person and company names,
 * deal and lead titles, pipelines (categories, stages, statuses) and Bitrix-style dates.
 *
 * Everything here is a pure function of its inputs, so the same `seedNumber` always yields the same portal:
 * a row is generated from `(seedNumber, entity, id)` when it is read, never stored. Benchmarks and tests may
 * reuse these generators to predict what the portal holds (for instance how many deals a filter keeps).
 */

// ---------------------------------------------------------------------------------------------------------
// Hashing and random numbers
// ---------------------------------------------------------------------------------------------------------

/** murmur3's 32-bit finaliser: spreads every input bit over the whole word. */
const fmix32 = (input: number): number => {
  let h = input | 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/**
 * Hash of three integers to an unsigned 32-bit integer. Fixed arity, no allocation: it runs once per row
 * when a million-row table is seeded.
 */
export const hash3 = (a: number, b: number, c: number): number =>
  fmix32(fmix32(fmix32(a ^ 0x9e3779b9) ^ Math.imul(b | 0, 0x27d4eb2d)) ^ Math.imul(c | 0, 0x165667b1))

/**
 * FNV-1a hash of a string, used to turn entity and field names into salts.
 */
export const hashString = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/**
 * The mulberry32 generator: floats in [0, 1) from a 32-bit seed. Tiny state, good enough for test data.
 */
export const mulberry32 = (seed: number): (() => number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * A seeded source of random choices.
 */
export interface Random {
  /** A float in [0, 1). */
  float(): number
  /** An integer in [0, maxExclusive). */
  int(maxExclusive: number): number
  /** An integer in [min, max]. */
  between(min: number, max: number): number
  pick<A>(items: ReadonlyArray<A>): A
  chance(probability: number): boolean
}

/**
 * mulberry32 as a class: one is made per generated row, so its methods live on the prototype instead of
 * being fresh closures each time.
 */
class Mulberry32 implements Random {
  private state: number
  constructor(seed: number) {
    this.state = seed >>> 0
  }
  float(): number {
    this.state = (this.state + 0x6d2b79f5) | 0
    let t = Math.imul(this.state ^ (this.state >>> 15), 1 | this.state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  int(maxExclusive: number): number {
    return Math.floor(this.float() * maxExclusive)
  }
  between(min: number, max: number): number {
    return min + this.int(max - min + 1)
  }
  pick<A>(items: ReadonlyArray<A>): A {
    return items[this.int(items.length)] as A
  }
  chance(probability: number): boolean {
    return this.float() < probability
  }
}

/**
 * A `Random` over mulberry32.
 */
export const random = (seed: number): Random => new Mulberry32(seed)

/**
 * Index chosen by integer weights for a uniform 32-bit hash: `weights[i] / sum` of the hashes land on `i`.
 */
export const weightedIndex = (weights: ReadonlyArray<number>, hash: number): number => {
  let total = 0
  for (const weight of weights) total += weight
  let point = (hash & 0x7fffffff) % total
  for (let i = 0; i < weights.length; i++) {
    point -= weights[i] as number
    if (point < 0) return i
  }
  return weights.length - 1
}

/**
 * `weightedIndex` precomputed for small integer weights: the returned function runs per row when a million
 * rows are seeded, so it must not allocate or loop.
 */
export const weightedPicker = (weights: ReadonlyArray<number>): ((hash: number) => number) => {
  // A lookup table with one slot per unit of weight: one int modulo and one load per row
  let total = 0
  for (const weight of weights) total += weight
  const slots = new Uint16Array(total)
  let k = 0
  weights.forEach((weight, i) => {
    for (let j = 0; j < weight; j++) slots[k++] = i
  })
  // Int32 arithmetic: a modulo on a uint32 above 2^31 is a slow floating-point fmod in V8
  return (hash) => slots[(hash & 0x7fffffff) % total] as number
}

/**
 * `count` ascending IDs starting at `firstId`, with gaps like a real table that has seen deletions:
 * 70 % of steps are 1, 20 % are 2, 8 % are 3–5 and 2 % jump 6–45. Deterministic in `(seedNumber, salt)`.
 */
export const idsWithGaps = (seedNumber: number, salt: number, count: number, firstId = 1): Int32Array => {
  const ids = new Int32Array(count)
  let id = firstId
  for (let i = 0; i < count; i++) {
    ids[i] = id
    const h = hash3(seedNumber, salt, i)
    const u = h % 100
    id += u < 70 ? 1 : u < 90 ? 2 : u < 98 ? 3 + ((h >>> 8) % 3) : 6 + ((h >>> 8) % 40)
  }
  return ids
}

// ---------------------------------------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------------------------------------

const pad2 = (n: number): string => (n < 10 ? `0${n}` : `${n}`)

/**
 * Bitrix's ISO-8601 date-time with the portal's offset, e.g. `2022-05-21T12:00:12+03:00` (Moscow time, as in
 * the recorded fixtures).
 */
export const formatDateTime = (epochMs: number, offsetMinutes = 180): string => {
  const local = new Date(Math.floor(epochMs / 1000) * 1000 + offsetMinutes * 60_000)
  const sign = offsetMinutes < 0 ? "-" : "+"
  const abs = Math.abs(offsetMinutes)
  return (
    `${local.getUTCFullYear()}-${pad2(local.getUTCMonth() + 1)}-${pad2(local.getUTCDate())}` +
    `T${pad2(local.getUTCHours())}:${pad2(local.getUTCMinutes())}:${pad2(local.getUTCSeconds())}` +
    `${sign}${pad2(Math.floor(abs / 60))}:${pad2(abs % 60)}`
  )
}

/**
 * A date-only field as Bitrix REST prints it: midnight of the portal's day, `2024-04-19T03:00:00+03:00`
 * style (the `ufCrm11_…` date in the crm_item_list fixture).
 */
export const formatDate = (epochMs: number, offsetMinutes = 180): string =>
  // Date-only fields are stored as UTC midnight and printed in the portal's zone (03:00 in Moscow)
  formatDateTime(Math.floor(epochMs / 86_400_000) * 86_400_000, offsetMinutes)

/**
 * Where generated creation dates start: 2020-01-01T00:00:00Z.
 */
export const epochOfSeedData = Date.UTC(2020, 0, 1)

/**
 * Spacing of creation dates, so that a table of `count` rows spans about four years whatever its size
 * (never closer than a minute).
 */
export const createdStepMs = (count: number): number =>
  Math.max(60_000, Math.floor((4 * 365 * 86_400_000) / Math.max(1, count)))

// ---------------------------------------------------------------------------------------------------------
// Names and titles
// ---------------------------------------------------------------------------------------------------------

/**
 * Male first names for generated people.
 */
export const maleFirstNames: ReadonlyArray<string> = [
  "Александр", "Алексей", "Андрей", "Артём", "Борис", "Вадим", "Виктор", "Дмитрий", "Евгений", "Иван",
  "Игорь", "Кирилл", "Максим", "Михаил", "Никита", "Олег", "Павел", "Роман", "Сергей", "Юрий"
]

/**
 * Female first names for generated people.
 */
export const femaleFirstNames: ReadonlyArray<string> = [
  "Анна", "Виктория", "Дарья", "Екатерина", "Елена", "Ирина", "Ксения", "Марина", "Мария", "Наталья",
  "Ольга", "Полина", "Светлана", "Татьяна", "Юлия"
]

/**
 * Surnames in their masculine form; `personName` adds the feminine ending.
 */
export const lastNames: ReadonlyArray<string> = [
  "Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов", "Новиков", "Фёдоров",
  "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров", "Павлов", "Козлов", "Степанов", "Николаев",
  "Орлов", "Макаров", "Захаров", "Зайцев", "Соловьёв", "Борисов", "Яковлев", "Григорьев", "Романов", "Воробьёв"
]

const patronymicRoots: ReadonlyArray<string> = [
  "Александров", "Андреев", "Викторов", "Дмитриев", "Иванов", "Игорев", "Михайлов", "Олегов", "Павлов", "Сергеев"
]

/**
 * A generated person.
 */
export interface PersonName {
  readonly name: string
  readonly lastName: string
  readonly secondName: string
  readonly gender: "M" | "F"
}

/**
 * A Russian first name, surname and patronymic of one gender (non-ASCII on purpose: it exercises the
 * portal's `\uXXXX` JSON escaping).
 */
export const personName = (r: Random): PersonName => {
  const female = r.chance(0.45)
  const last = r.pick(lastNames)
  const root = r.pick(patronymicRoots)
  return female
    ? { name: r.pick(femaleFirstNames), lastName: `${last}а`, secondName: `${root}на`, gender: "F" }
    : { name: r.pick(maleFirstNames), lastName: last, secondName: `${root}ич`, gender: "M" }
}

const companyForms: ReadonlyArray<string> = ["ООО", "АО", "ИП", "ПАО", "ООО"]
const companyWords: ReadonlyArray<string> = [
  "Ромашка", "Вектор", "Гранит", "Северный ветер", "ТехноСфера", "Альфа-Строй", "Меридиан", "Сибирский лес",
  "Орбита", "Каскад", "Прогресс", "Феникс", "Кристалл", "Атлант", "Восход", "Дельта Логистик", "Нева Трейд",
  "Уральские машины", "Волна", "Горизонт"
]

/**
 * A company name such as `ООО «Меридиан»`.
 */
export const companyTitle = (r: Random): string => `${r.pick(companyForms)} «${r.pick(companyWords)}»`

const dealSubjects: ReadonlyArray<string> = [
  "Поставка оборудования", "Внедрение CRM", "Годовая подписка", "Аренда склада", "Разработка сайта",
  "Сервисное обслуживание", "Консалтинг", "Поставка комплектующих", "Монтаж вентиляции", "Обучение персонала",
  "Лицензии на ПО", "Логистика & доставка"
]

/**
 * A deal title such as `Поставка оборудования — ООО «Ромашка» #1234`.
 */
export const dealTitle = (r: Random, id: number): string =>
  `${r.pick(dealSubjects)} — ${companyTitle(r)} #${id}`

const streets: ReadonlyArray<string> = [
  "Поклонная ул.", "Халтуринская ул.", "Ленинский пр-т", "Волгоградский пр-т", "Заводской пр-д",
  "Балаклавский пр-т", "Пр-т Мира", "Ул. Полины Осипенко", "Б. Филевская ул.", "7-я Кожуховская ул."
]

/**
 * A lead title in the style of the recorded fixtures: `Ленинский пр-т, 93К2: 92%, 3.2, эт. 6/9, 10.8 -> 16.0`.
 */
export const leadTitle = (r: Random): string => {
  const floors = r.between(5, 30)
  const low = r.between(80, 250) / 10
  const high = low + r.between(30, 80) / 10
  return (
    `${r.pick(streets)}, ${r.between(1, 140)}К${r.between(1, 9)}: ${r.between(20, 130)}%, ` +
    `${(r.between(20, 40) / 10).toFixed(1)}, эт. ${r.between(1, floors)}/${floors}, ${low.toFixed(1)} -> ${high.toFixed(1)}` +
    (r.chance(0.2) ? " (от собственника)" : "")
  )
}

const taskVerbs: ReadonlyArray<string> = [
  "Подготовить", "Согласовать", "Проверить", "Отправить", "Обновить", "Позвонить по поводу", "Составить", "Разобрать"
]
const taskObjects: ReadonlyArray<string> = [
  "договор", "коммерческое предложение", "счёт", "отчёт за квартал", "презентацию", "смету", "заявку клиента",
  "техническое задание"
]

/**
 * A task title such as `Согласовать договор`.
 */
export const taskTitle = (r: Random): string => `${r.pick(taskVerbs)} ${r.pick(taskObjects)}`

const translit: Readonly<Record<string, string>> = {
  а: "a", б: "b", в: "v", г: "g", д: "d", е: "e", ё: "e", ж: "zh", з: "z", и: "i", й: "y", к: "k", л: "l",
  м: "m", н: "n", о: "o", п: "p", р: "r", с: "s", т: "t", у: "u", ф: "f", х: "h", ц: "c", ч: "ch", ш: "sh",
  щ: "sch", ъ: "", ы: "y", ь: "", э: "e", ю: "yu", я: "ya"
}

/**
 * Latin transliteration of a Russian word, for logins and e-mail addresses.
 */
export const transliterate = (text: string): string =>
  Array.from(text.toLowerCase(), (ch) => translit[ch] ?? (/[a-z0-9]/.test(ch) ? ch : "")).join("")

/**
 * An e-mail address built from a person's name.
 */
export const emailOf = (person: PersonName, r: Random): string =>
  `${transliterate(person.name)}.${transliterate(person.lastName)}${r.int(100)}@${r.pick(["mail.ru", "yandex.ru", "gmail.com", "example.com"])}`

/**
 * A Russian mobile number, `+79161234567`.
 */
export const phoneNumber = (r: Random): string => `+79${r.between(10, 99)}${String(r.int(10_000_000)).padStart(7, "0")}`

// ---------------------------------------------------------------------------------------------------------
// Pipelines: deal categories and stages, lead statuses, reference lists
// ---------------------------------------------------------------------------------------------------------

/**
 * A status-like reference entry, as `crm.status.entity.items` returns it.
 */
export interface StatusEntry {
  readonly STATUS_ID: string
  readonly NAME: string
  readonly SORT: number
  /** `P` in progress, `S` success, `F` failure. */
  readonly semantics: "P" | "S" | "F"
}

/**
 * Deal categories (pipelines) with the share of generated deals in each: CATEGORY_ID 0 holds 40 %, 1 holds
 * 25 %, 2 holds 15 %, and 3 and 4 hold 10 % each (a filter keeping about 10 %).
 */
export const dealCategories: ReadonlyArray<{ readonly id: number; readonly name: string; readonly sort: number; readonly weight: number }> = [
  { id: 0, name: "Общее направление", sort: 100, weight: 40 },
  { id: 1, name: "Закупки", sort: 200, weight: 25 },
  { id: 2, name: "Аренда", sort: 300, weight: 15 },
  { id: 3, name: "Франшиза", sort: 400, weight: 10 },
  { id: 4, name: "Разработка", sort: 500, weight: 10 }
]

/**
 * The stages of every deal pipeline with the share of generated deals in each (per cent). Stage IDs of
 * category N > 0 carry the `CN:` prefix (`C2:WON`), as on a real portal.
 */
export const dealStageCodes: ReadonlyArray<{ readonly code: string; readonly name: string; readonly semantics: "P" | "S" | "F"; readonly weight: number }> = [
  { code: "NEW", name: "Новая", semantics: "P", weight: 20 },
  { code: "PREPARATION", name: "Подготовка документов", semantics: "P", weight: 15 },
  { code: "PREPAYMENT_INVOICE", name: "Счёт на предоплату", semantics: "P", weight: 10 },
  { code: "EXECUTING", name: "В работе", semantics: "P", weight: 15 },
  { code: "FINAL_INVOICE", name: "Финальный счёт", semantics: "P", weight: 10 },
  { code: "WON", name: "Сделка успешна", semantics: "S", weight: 15 },
  { code: "LOSE", name: "Сделка провалена", semantics: "F", weight: 10 },
  { code: "APOLOGY", name: "Анализ причины провала", semantics: "F", weight: 5 }
]

/**
 * The full stage ID of a deal stage code in a category.
 */
export const dealStageId = (categoryId: number, code: string): string => (categoryId === 0 ? code : `C${categoryId}:${code}`)

/**
 * The stages of a deal category, as `crm.dealcategory.stage.list` and `crm.status.entity.items` list them.
 */
export const dealStages = (categoryId: number): ReadonlyArray<StatusEntry> =>
  dealStageCodes.map((stage, i) => ({
    STATUS_ID: dealStageId(categoryId, stage.code),
    NAME: stage.name,
    SORT: (i + 1) * 10,
    semantics: stage.semantics
  }))

/**
 * Lead statuses with the share of generated leads in each (per cent).
 */
export const leadStatuses: ReadonlyArray<StatusEntry & { readonly weight: number }> = [
  { STATUS_ID: "NEW", NAME: "Не обработан", SORT: 10, semantics: "P", weight: 30 },
  { STATUS_ID: "IN_PROCESS", NAME: "В работе", SORT: 20, semantics: "P", weight: 25 },
  { STATUS_ID: "PROCESSED", NAME: "Обработан", SORT: 30, semantics: "P", weight: 15 },
  { STATUS_ID: "CONVERTED", NAME: "Качественный лид", SORT: 40, semantics: "S", weight: 20 },
  { STATUS_ID: "JUNK", NAME: "Некачественный лид", SORT: 50, semantics: "F", weight: 10 }
]

/**
 * Stages of a smart-process category: `DT1032_12:NEW` style IDs.
 */
export const smartProcessStages = (entityTypeId: number, categoryId: number): ReadonlyArray<StatusEntry> =>
  [
    { code: "NEW", name: "Начало", semantics: "P" as const },
    { code: "PREPARATION", name: "Подготовка", semantics: "P" as const },
    { code: "CLIENT", name: "Согласование с клиентом", semantics: "P" as const },
    { code: "SUCCESS", name: "Успех", semantics: "S" as const },
    { code: "FAIL", name: "Провал", semantics: "F" as const }
  ].map((stage, i) => ({
    STATUS_ID: `DT${entityTypeId}_${categoryId}:${stage.code}`,
    NAME: stage.name,
    SORT: (i + 1) * 10,
    semantics: stage.semantics
  }))

/**
 * The two categories every generated smart process has: IDs derived from the type so they differ between
 * types (real category IDs are one portal-wide sequence).
 */
export const smartProcessCategoryIds = (entityTypeId: number): readonly [number, number] => {
  const base = 100 + (entityTypeId % 400) * 2
  return [base, base + 1]
}

const entry = (STATUS_ID: string, NAME: string, SORT: number): StatusEntry => ({ STATUS_ID, NAME, SORT, semantics: "P" })

/**
 * Reference lists by `crm.status` ENTITY_ID (sources, deal types, contact types, industries, honorifics).
 */
export const referenceLists: Readonly<Record<string, ReadonlyArray<StatusEntry>>> = {
  SOURCE: [
    entry("CALL", "Звонок", 10), entry("EMAIL", "Электронная почта", 20), entry("WEB", "Веб-сайт", 30),
    entry("ADVERTISING", "Реклама", 40), entry("PARTNER", "Существующий клиент", 50), entry("RECOMMENDATION", "По рекомендации", 60),
    entry("TRADE_SHOW", "Выставка", 70), entry("WEBFORM", "CRM-форма", 80), entry("CALLBACK", "Обратный звонок", 90),
    entry("OTHER", "Другое", 100)
  ],
  DEAL_TYPE: [
    entry("SALE", "Продажа", 10), entry("COMPLEX", "Комплексная продажа", 20), entry("GOODS", "Продажа товара", 30),
    entry("SERVICES", "Продажа услуги", 40), entry("SERVICE", "Сервисное обслуживание", 50)
  ],
  CONTACT_TYPE: [
    entry("CLIENT", "Клиенты", 10), entry("SUPPLIER", "Поставщики", 20), entry("PARTNER", "Партнеры", 30), entry("OTHER", "Другое", 40)
  ],
  COMPANY_TYPE: [
    entry("CUSTOMER", "Клиент", 10), entry("SUPPLIER", "Поставщик", 20), entry("COMPETITOR", "Конкурент", 30),
    entry("PARTNER", "Партнер", 40), entry("OTHER", "Другое", 50)
  ],
  INDUSTRY: [
    entry("IT", "Информационные технологии", 10), entry("TELECOM", "Телекоммуникации и связь", 20),
    entry("MANUFACTURING", "Производство", 30), entry("BANKING", "Банковские услуги", 40), entry("CONSULTING", "Консалтинг", 50),
    entry("OTHER", "Другое", 60)
  ],
  HONORIFIC: [entry("HNR_RU_1", "г-н", 100), entry("HNR_RU_2", "г-жа", 200)]
}

/**
 * Currencies used by generated amounts, most deals in roubles.
 */
export const currencies: ReadonlyArray<string> = ["RUB", "RUB", "RUB", "RUB", "USD", "EUR"]

/**
 * Product names for product rows and catalog documents.
 */
export const productNames: ReadonlyArray<string> = [
  "Ноутбук 15\" (16 ГБ)", "Монитор 27\"", "Лицензия CRM, 1 год", "Кабель UTP cat.6, 305 м", "Сервер 2U",
  "Услуга: внедрение", "Картридж лазерный", "Стол офисный", "Кресло эргономичное", "Маршрутизатор Wi-Fi 6"
]

/**
 * Workgroup (project) names.
 */
export const workgroupNames: ReadonlyArray<string> = [
  "Отдел продаж", "Маркетинг", "Разработка портала", "Бухгалтерия", "Склад", "Проект «Запуск»", "Поддержка клиентов",
  "HR и обучение"
]
