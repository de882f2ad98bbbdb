/**
 * CRM entities of the fake portal: leads, deals, contacts, companies, smart processes, stage history,
 * categories and product rows. Field sets follow real portals (the lead's 49 keys are those of the
 * call_single_success fixture); values are generated from `(seedNumber, table, id)`.
 */
import {
  companyTitle,
  currencies,
  dealCategories,
  dealStageCodes,
  dealStageId,
  dealStages,
  dealTitle,
  emailOf,
  hash3,
  leadStatuses,
  leadTitle,
  personName,
  phoneNumber,
  productNames,
  random,
  referenceLists,
  smartProcessCategoryIds,
  smartProcessStages,
  weightedPicker,
  type Random,
  type StatusEntry
} from "./seed.js"
import {
  createdAt,
  entity,
  field,
  pickUser,
  rowHash,
  rowRandom,
  userField,
  type ColumnDef,
  type EntityDef,
  type FieldDef,
  type GenEnv,
  type Row
} from "./entityModel.js"

const DAY = 86_400_000

const addressFields: ReadonlyArray<FieldDef> = [
  field("ADDRESS", "string", "Адрес"),
  field("ADDRESS_2", "string", "Адрес (стр. 2)"),
  field("ADDRESS_CITY", "string", "Город"),
  field("ADDRESS_POSTAL_CODE", "string", "Почтовый индекс"),
  field("ADDRESS_REGION", "string", "Район"),
  field("ADDRESS_PROVINCE", "string", "Область"),
  field("ADDRESS_COUNTRY", "string", "Страна"),
  field("ADDRESS_COUNTRY_CODE", "string", "Код страны"),
  field("ADDRESS_LOC_ADDR_ID", "integer", "Идентификатор адреса местоположения")
]

const utmFields: ReadonlyArray<FieldDef> = [
  field("UTM_SOURCE", "string", "Рекламная система"),
  field("UTM_MEDIUM", "string", "Тип трафика"),
  field("UTM_CAMPAIGN", "string", "Обозначение рекламной кампании"),
  field("UTM_CONTENT", "string", "Содержание кампании"),
  field("UTM_TERM", "string", "Условие поиска кампании")
]

const multiFields: ReadonlyArray<FieldDef> = [
  field("PHONE", "crm_multifield", "Телефон", "MX"),
  field("EMAIL", "crm_multifield", "E-mail", "MX"),
  field("WEB", "crm_multifield", "Сайт", "MX"),
  field("IM", "crm_multifield", "Мессенджер", "MX")
]

/** Fields every CRM entity shares, with crm.item's names for them. */
const audit = {
  createdBy: field("CREATED_BY_ID", "user", "Кем создан", "O", { camel: "createdBy" }),
  modifiedBy: field("MODIFY_BY_ID", "user", "Кем изменен", "O", { camel: "updatedBy" }),
  created: field("DATE_CREATE", "datetime", "Дата создания", "O", { camel: "createdTime" }),
  modified: field("DATE_MODIFY", "datetime", "Дата изменения", "O", { camel: "updatedTime" }),
  movedBy: field("MOVED_BY_ID", "user", "MOVED_BY_ID", "O", { camel: "movedBy" }),
  movedTime: field("MOVED_TIME", "datetime", "MOVED_TIME", "O", { camel: "movedTime" })
}

const cities: ReadonlyArray<readonly [string, string, string]> = [
  ["Москва", "101000", "Москва"],
  ["Санкт-Петербург", "190000", "Санкт-Петербург"],
  ["Екатеринбург", "620000", "Свердловская область"],
  ["Новосибирск", "630000", "Новосибирская область"],
  ["Казань", "420000", "Республика Татарстан"]
]

/** Address columns: filled for some rows, null otherwise. */
const address = (r: Random, row: Row): void => {
  if (r.chance(0.6)) {
    const [city, zip, province] = r.pick(cities)
    row.ADDRESS = `ул. Ленина, д. ${r.between(1, 120)}`
    row.ADDRESS_CITY = city
    row.ADDRESS_POSTAL_CODE = zip
    row.ADDRESS_PROVINCE = province
    row.ADDRESS_COUNTRY = "Россия"
    row.ADDRESS_COUNTRY_CODE = "RU"
    row.ADDRESS_LOC_ADDR_ID = r.between(1, 50_000)
  }
}

/** Multi-field values (PHONE, EMAIL) in the shape real portals return. */
const multiValue = (id: number, k: number, type: string, value: string): Row => ({
  ID: String(id * 4 + k),
  VALUE_TYPE: "WORK",
  VALUE: value,
  TYPE_ID: type
})

/** Audit fields shared by all CRM rows. */
const auditValues = (env: GenEnv, id: number, r: Random, row: Row): void => {
  const created = createdAt(env, id, r)
  const modified = created + r.int(60 * DAY)
  const creator = pickUser(env, r)
  row.CREATED_BY_ID = creator
  row.MODIFY_BY_ID = r.chance(0.5) ? creator : pickUser(env, r)
  row.DATE_CREATE = created
  row.DATE_MODIFY = modified
  row.MOVED_BY_ID = row.MODIFY_BY_ID
  row.MOVED_TIME = modified
}

// ---------------------------------------------------------------------------------------------------------
// Leads
// ---------------------------------------------------------------------------------------------------------

const pickLeadStatus = weightedPicker(leadStatuses.map((s) => s.weight))

const leadSemantics: ReadonlyMap<unknown, "P" | "S" | "F"> = new Map(leadStatuses.map((s) => [s.STATUS_ID, s.semantics]))

const leadStatusColumn: ColumnDef = {
  field: "STATUS_ID",
  valueOf: (env, id) => leadStatuses[pickLeadStatus(rowHash(env, id, 0x51))]?.STATUS_ID ?? "NEW"
}

/** Leads (`crm.lead.*`, crm.item entityTypeId 1). The first 49 fields are the call_single_success fixture's keys. */
export const leadEntity: EntityDef = entity(
  "crm.lead",
  [
    field("ID", "integer", "ID", "O"),
    field("TITLE", "string", "Название лида", "R"),
    field("HONORIFIC", "crm_status", "Обращение", "", { statusType: "HONORIFIC" }),
    field("NAME", "string", "Имя"),
    field("SECOND_NAME", "string", "Отчество"),
    field("LAST_NAME", "string", "Фамилия"),
    field("COMPANY_TITLE", "string", "Название компании"),
    field("COMPANY_ID", "crm_company", "Компания", "", { settings: { parentEntityTypeId: 4 } }),
    field("CONTACT_ID", "crm_contact", "Контакт", "D"),
    field("IS_RETURN_CUSTOMER", "char", "Повторный лид", "O"),
    field("BIRTHDATE", "date", "Дата рождения", "", { camel: "birthdate" }),
    field("SOURCE_ID", "crm_status", "Источник", "", { statusType: "SOURCE" }),
    field("SOURCE_DESCRIPTION", "string", "Дополнительно об источнике"),
    field("STATUS_ID", "crm_status", "Статус", "", { statusType: "STATUS", camel: "stageId" }),
    field("STATUS_DESCRIPTION", "string", "Дополнительно о статусе"),
    field("POST", "string", "Должность"),
    field("COMMENTS", "string", "Комментарий"),
    field("CURRENCY_ID", "crm_currency", "Валюта"),
    field("OPPORTUNITY", "double", "Сумма"),
    field("IS_MANUAL_OPPORTUNITY", "char", "IS_MANUAL_OPPORTUNITY"),
    field("HAS_PHONE", "char", "Задан телефон", "O"),
    field("HAS_EMAIL", "char", "Задан e-mail", "O"),
    field("HAS_IMOL", "char", "Задана открытая линия", "O"),
    field("ASSIGNED_BY_ID", "user", "Ответственный"),
    audit.createdBy,
    audit.modifiedBy,
    audit.created,
    audit.modified,
    field("DATE_CLOSED", "datetime", "Дата завершения", "O", { camel: "closedate" }),
    field("STATUS_SEMANTIC_ID", "string", "Состояние статуса", "O", { camel: "stageSemanticId" }),
    field("OPENED", "char", "Доступен для всех"),
    field("ORIGINATOR_ID", "string", "Внешний источник"),
    field("ORIGIN_ID", "string", "Идентификатор элемента во внешнем источнике"),
    audit.movedBy,
    audit.movedTime,
    ...addressFields,
    ...utmFields,
    field("CONTACT_IDS", "crm_contact", "CONTACT_IDS", "MX"),
    ...multiFields,
    field("LINK", "crm_multifield", "LINK", "MX"),
    userField("UF_CRM_1594289616952", "string", "Метро"),
    userField("UF_CRM_1594289659496", "money", "Наша оценка"),
    userField("UF_CRM_1594290129890", "url", "Объявление")
  ],
  (env, id) => {
    const r = rowRandom(env, id)
    const status = leadStatusColumn.valueOf(env, id)
    const semantic = leadSemantics.get(status) ?? "P"
    const person = r.chance(0.7) ? personName(r) : undefined
    const hasPhone = r.chance(0.6)
    const hasEmail = r.chance(0.4)
    const contactable = hasPhone || hasEmail
    const row: Row = {
      ID: id,
      TITLE: leadTitle(r),
      HONORIFIC: null,
      NAME: person?.name ?? null,
      SECOND_NAME: person !== undefined && r.chance(0.5) ? person.secondName : null,
      LAST_NAME: person?.lastName ?? null,
      COMPANY_TITLE: r.chance(0.3) ? companyTitle(r) : null,
      COMPANY_ID: r.chance(0.2) ? env.refs.pick("crm.company", r.int(0x7fffffff)) ?? null : null,
      CONTACT_ID: r.chance(0.2) ? env.refs.pick("crm.contact", r.int(0x7fffffff)) ?? null : null,
      IS_RETURN_CUSTOMER: "N",
      BIRTHDATE: null,
      SOURCE_ID: r.pick(referenceLists.SOURCE ?? []).STATUS_ID,
      SOURCE_DESCRIPTION: null,
      STATUS_ID: status,
      STATUS_DESCRIPTION: null,
      POST: null,
      COMMENTS: r.chance(0.2) ? "Перезвонить после обеда" : null,
      CURRENCY_ID: r.pick(currencies),
      OPPORTUNITY: r.chance(0.8) ? r.between(1_000, 5_000_000) : 0,
      IS_MANUAL_OPPORTUNITY: "N",
      HAS_PHONE: hasPhone ? "Y" : "N",
      HAS_EMAIL: hasEmail ? "Y" : "N",
      HAS_IMOL: "N",
      ASSIGNED_BY_ID: pickUser(env, r),
      DATE_CLOSED: null,
      STATUS_SEMANTIC_ID: semantic,
      OPENED: r.chance(0.5) ? "Y" : "N",
      ORIGINATOR_ID: null,
      ORIGIN_ID: null,
      PHONE: hasPhone ? [multiValue(id, 0, "PHONE", phoneNumber(r))] : [],
      EMAIL: hasEmail && person !== undefined ? [multiValue(id, 1, "EMAIL", emailOf(person, r))] : [],
      WEB: [],
      IM: [],
      LINK: [],
      CONTACT_IDS: [],
      // Leads without contact data are bare form submissions: their user fields stay empty
      UF_CRM_1594289616952: contactable && r.chance(0.5) ? r.pick(["Сокол", "Арбатская", "Тверская", "Динамо", "Сокольники"]) : null,
      UF_CRM_1594289659496: contactable && r.chance(0.5) ? `${r.between(5, 300) * 1000}|RUB` : "",
      UF_CRM_1594290129890: contactable && r.chance(0.4) ? `https://example.com/ad/${id}` : null
    }
    auditValues(env, id, r, row)
    if (semantic !== "P") row.DATE_CLOSED = row.DATE_MODIFY
    if (row.CONTACT_ID !== null) row.CONTACT_IDS = [row.CONTACT_ID]
    address(r, row)
    return row
  },
  {
    columns: [leadStatusColumn],
    creationDefaults: {
      STATUS_ID: "NEW", STATUS_SEMANTIC_ID: "P", DATE_CLOSED: null, OPPORTUNITY: 0, COMPANY_ID: null, CONTACT_ID: null,
      CONTACT_IDS: [], COMMENTS: null, PHONE: [], EMAIL: [], HAS_PHONE: "N", HAS_EMAIL: "N",
      UF_CRM_1594289616952: null, UF_CRM_1594289659496: "", UF_CRM_1594290129890: null
    }
  }
)

// ---------------------------------------------------------------------------------------------------------
// Deals
// ---------------------------------------------------------------------------------------------------------

const pickCategory = weightedPicker(dealCategories.map((c) => c.weight))
const pickStage = weightedPicker(dealStageCodes.map((s) => s.weight))
const categoryIdsByIndex = Int32Array.from(dealCategories, (c) => c.id)
/** Stage IDs by [category index][stage index], built once so seeding allocates no strings. */
const stageIdsByIndex: ReadonlyArray<ReadonlyArray<string>> = dealCategories.map((c) => dealStageCodes.map((s) => dealStageId(c.id, s.code)))

const dealCategoryIndex = (env: GenEnv, id: number): number => pickCategory(rowHash(env, id, 0xca7))
const dealCategoryOf = (env: GenEnv, id: number): number => categoryIdsByIndex[dealCategoryIndex(env, id)] as number
const dealStageCodeIndex = (env: GenEnv, id: number): number => pickStage(rowHash(env, id, 0x57a))

const dealCategoryColumn: ColumnDef = { field: "CATEGORY_ID", valueOf: dealCategoryOf }
const dealStageColumn: ColumnDef = {
  field: "STAGE_ID",
  valueOf: (env, id) => stageIdsByIndex[dealCategoryIndex(env, id)]?.[dealStageCodeIndex(env, id)] as string
}

/** Deals (`crm.deal.*`, crm.item entityTypeId 2). CATEGORY_ID and STAGE_ID are columns for fast filters. */
export const dealEntity: EntityDef = entity(
  "crm.deal",
  [
    field("ID", "integer", "ID", "O"),
    field("TITLE", "string", "Название"),
    field("TYPE_ID", "crm_status", "Тип", "", { statusType: "DEAL_TYPE" }),
    field("CATEGORY_ID", "crm_category", "Направление", "I"),
    field("STAGE_ID", "crm_status", "Стадия сделки", "", { statusType: "DEAL_STAGE" }),
    field("STAGE_SEMANTIC_ID", "string", "Группа стадии", "O"),
    field("IS_NEW", "char", "Новая сделка", "O"),
    field("IS_RECURRING", "char", "Регулярная сделка"),
    field("IS_RETURN_CUSTOMER", "char", "Повторная сделка", "O"),
    field("IS_REPEATED_APPROACH", "char", "Повторное обращение", "O"),
    field("PROBABILITY", "integer", "Вероятность"),
    field("CURRENCY_ID", "crm_currency", "Валюта"),
    field("OPPORTUNITY", "double", "Сумма"),
    field("IS_MANUAL_OPPORTUNITY", "char", "IS_MANUAL_OPPORTUNITY"),
    field("TAX_VALUE", "double", "Ставка налога"),
    field("COMPANY_ID", "crm_company", "Компания"),
    field("CONTACT_ID", "crm_contact", "Контакт", "D"),
    field("CONTACT_IDS", "crm_contact", "Контакты", "MX"),
    field("QUOTE_ID", "crm_quote", "Предложение", "O"),
    field("BEGINDATE", "date", "Дата начала", "", { camel: "begindate" }),
    field("CLOSEDATE", "date", "Дата завершения", "", { camel: "closedate" }),
    field("OPENED", "char", "Доступна для всех"),
    field("CLOSED", "char", "Закрыта"),
    field("COMMENTS", "string", "Комментарий"),
    field("ASSIGNED_BY_ID", "user", "Ответственный"),
    audit.createdBy,
    audit.modifiedBy,
    audit.created,
    audit.modified,
    field("SOURCE_ID", "crm_status", "Источник", "", { statusType: "SOURCE" }),
    field("SOURCE_DESCRIPTION", "string", "Дополнительно об источнике"),
    field("LEAD_ID", "crm_lead", "Лид", "O"),
    field("ADDITIONAL_INFO", "string", "Дополнительная информация"),
    field("LOCATION_ID", "location", "Местоположение"),
    field("ORIGINATOR_ID", "string", "Внешний источник"),
    field("ORIGIN_ID", "string", "Идентификатор элемента во внешнем источнике"),
    audit.movedBy,
    audit.movedTime,
    field("LAST_ACTIVITY_TIME", "datetime", "Последняя активность", "O"),
    field("LAST_ACTIVITY_BY", "user", "Автор последней активности", "O"),
    ...utmFields,
    userField("UF_CRM_1603211475642", "string", "Номер договора"),
    userField("UF_CRM_1603211497115", "money", "Бюджет клиента"),
    userField("UF_CRM_1712074666", "date", "Дата поставки"),
    userField("UF_CRM_1619533741", "double", "Маржа, %")
  ],
  (env, id) => {
    const r = rowRandom(env, id)
    const categoryId = dealCategoryOf(env, id)
    const stage = dealStageCodes[dealStageCodeIndex(env, id)] ?? { code: "NEW", semantics: "P" as const }
    const closed = stage.semantics !== "P"
    const company = r.chance(0.7) ? env.refs.pick("crm.company", r.int(0x7fffffff)) ?? null : null
    const contact = r.chance(0.7) ? env.refs.pick("crm.contact", r.int(0x7fffffff)) ?? null : null
    const row: Row = {
      ID: id,
      TITLE: dealTitle(r, id),
      TYPE_ID: r.pick(referenceLists.DEAL_TYPE ?? []).STATUS_ID,
      CATEGORY_ID: categoryId,
      STAGE_ID: dealStageId(categoryId, stage.code),
      STAGE_SEMANTIC_ID: stage.semantics,
      IS_NEW: stage.code === "NEW" ? "Y" : "N",
      IS_RECURRING: "N",
      IS_RETURN_CUSTOMER: r.chance(0.2) ? "Y" : "N",
      IS_REPEATED_APPROACH: "N",
      PROBABILITY: r.chance(0.3) ? r.between(1, 10) * 10 : null,
      CURRENCY_ID: r.pick(currencies),
      OPPORTUNITY: r.between(1, 20_000) * 100,
      IS_MANUAL_OPPORTUNITY: r.chance(0.3) ? "Y" : "N",
      TAX_VALUE: 0,
      COMPANY_ID: company,
      CONTACT_ID: contact,
      CONTACT_IDS: contact === null ? [] : [contact],
      QUOTE_ID: null,
      OPENED: "Y",
      CLOSED: closed ? "Y" : "N",
      COMMENTS: r.chance(0.25) ? "Клиент просил прислать КП до пятницы" : null,
      ASSIGNED_BY_ID: pickUser(env, r),
      SOURCE_ID: r.pick(referenceLists.SOURCE ?? []).STATUS_ID,
      SOURCE_DESCRIPTION: null,
      LEAD_ID: r.chance(0.2) ? env.refs.pick("crm.lead", r.int(0x7fffffff)) ?? null : null,
      ADDITIONAL_INFO: null,
      LOCATION_ID: null,
      ORIGINATOR_ID: null,
      ORIGIN_ID: null,
      UF_CRM_1603211475642: r.chance(0.6) ? `Д-${r.between(100, 9999)}/${r.between(20, 25)}` : null,
      UF_CRM_1603211497115: r.chance(0.5) ? `${r.between(10, 900) * 1000}|RUB` : "",
      UF_CRM_1619533741: r.chance(0.5) ? r.between(5, 60) : null
    }
    auditValues(env, id, r, row)
    const created = row.DATE_CREATE as number
    row.BEGINDATE = created
    row.CLOSEDATE = created + r.between(7, 90) * DAY
    row.UF_CRM_1712074666 = r.chance(0.5) ? created + r.between(10, 120) * DAY : null
    row.LAST_ACTIVITY_TIME = row.DATE_MODIFY
    row.LAST_ACTIVITY_BY = row.MODIFY_BY_ID
    return row
  },
  {
    columns: [dealCategoryColumn, dealStageColumn],
    creationDefaults: {
      CATEGORY_ID: 0, STAGE_ID: "NEW", STAGE_SEMANTIC_ID: "P", IS_NEW: "Y", CLOSED: "N", OPPORTUNITY: 0, PROBABILITY: null,
      COMPANY_ID: null, CONTACT_ID: null, CONTACT_IDS: [], LEAD_ID: null, COMMENTS: null, IS_RETURN_CUSTOMER: "N",
      UF_CRM_1603211475642: null, UF_CRM_1603211497115: "", UF_CRM_1712074666: null, UF_CRM_1619533741: null
    }
  }
)

// ---------------------------------------------------------------------------------------------------------
// Contacts and companies
// ---------------------------------------------------------------------------------------------------------

/** Contacts (`crm.contact.*`, crm.item entityTypeId 3). */
export const contactEntity: EntityDef = entity(
  "crm.contact",
  [
    field("ID", "integer", "ID", "O"),
    field("HONORIFIC", "crm_status", "Обращение", "", { statusType: "HONORIFIC" }),
    field("NAME", "string", "Имя"),
    field("SECOND_NAME", "string", "Отчество"),
    field("LAST_NAME", "string", "Фамилия"),
    field("BIRTHDATE", "date", "Дата рождения", "", { camel: "birthdate" }),
    field("TYPE_ID", "crm_status", "Тип контакта", "", { statusType: "CONTACT_TYPE" }),
    field("SOURCE_ID", "crm_status", "Источник", "", { statusType: "SOURCE" }),
    field("SOURCE_DESCRIPTION", "string", "Дополнительно об источнике"),
    field("POST", "string", "Должность"),
    ...addressFields,
    field("COMMENTS", "string", "Комментарий"),
    field("OPENED", "char", "Доступен для всех"),
    field("EXPORT", "char", "Участвует в экспорте контактов"),
    field("HAS_PHONE", "char", "Задан телефон", "O"),
    field("HAS_EMAIL", "char", "Задан e-mail", "O"),
    field("HAS_IMOL", "char", "Задана открытая линия", "O"),
    field("ASSIGNED_BY_ID", "user", "Ответственный"),
    audit.createdBy,
    audit.modifiedBy,
    audit.created,
    audit.modified,
    field("COMPANY_ID", "crm_company", "Компания", "D"),
    field("COMPANY_IDS", "crm_company", "Компании", "MX"),
    field("LEAD_ID", "crm_lead", "Лид", "O"),
    field("ORIGINATOR_ID", "string", "Внешний источник"),
    field("ORIGIN_ID", "string", "Идентификатор элемента во внешнем источнике"),
    ...utmFields,
    ...multiFields,
    userField("UF_CRM_1594289813884", "string", "Агент"),
    userField("UF_CRM_1623415999295", "url", "Профиль в соцсети")
  ],
  (env, id) => {
    const r = rowRandom(env, id)
    const person = personName(r)
    const hasPhone = r.chance(0.8)
    const hasEmail = r.chance(0.6)
    const company = r.chance(0.6) ? env.refs.pick("crm.company", r.int(0x7fffffff)) ?? null : null
    const row: Row = {
      ID: id,
      HONORIFIC: r.chance(0.3) ? (person.gender === "M" ? "HNR_RU_1" : "HNR_RU_2") : null,
      NAME: person.name,
      SECOND_NAME: r.chance(0.6) ? person.secondName : null,
      LAST_NAME: person.lastName,
      BIRTHDATE: r.chance(0.3) ? Date.UTC(1960 + r.int(40), r.int(12), 1 + r.int(28)) : null,
      TYPE_ID: r.pick(referenceLists.CONTACT_TYPE ?? []).STATUS_ID,
      SOURCE_ID: r.pick(referenceLists.SOURCE ?? []).STATUS_ID,
      SOURCE_DESCRIPTION: null,
      POST: r.chance(0.5) ? r.pick(["Директор", "Менеджер по закупкам", "Главный бухгалтер", "Инженер"]) : null,
      COMMENTS: null,
      OPENED: "Y",
      EXPORT: "Y",
      HAS_PHONE: hasPhone ? "Y" : "N",
      HAS_EMAIL: hasEmail ? "Y" : "N",
      HAS_IMOL: "N",
      ASSIGNED_BY_ID: pickUser(env, r),
      COMPANY_ID: company,
      COMPANY_IDS: company === null ? [] : [company],
      LEAD_ID: null,
      ORIGINATOR_ID: null,
      ORIGIN_ID: null,
      PHONE: hasPhone ? [multiValue(id, 0, "PHONE", phoneNumber(r))] : [],
      EMAIL: hasEmail ? [multiValue(id, 1, "EMAIL", emailOf(person, r))] : [],
      WEB: [],
      IM: [],
      UF_CRM_1594289813884: r.chance(0.3) ? personName(r).lastName : null,
      UF_CRM_1623415999295: r.chance(0.2) ? `https://vk.com/id${r.between(1000, 999_999)}` : null
    }
    auditValues(env, id, r, row)
    address(r, row)
    return row
  }
)

/** Companies (`crm.company.*`, crm.item entityTypeId 4). */
export const companyEntity: EntityDef = entity(
  "crm.company",
  [
    field("ID", "integer", "ID", "O"),
    field("TITLE", "string", "Название компании", "R"),
    field("COMPANY_TYPE", "crm_status", "Тип компании", "", { statusType: "COMPANY_TYPE", camel: "typeId" }),
    ...addressFields,
    field("ADDRESS_LEGAL", "string", "Юридический адрес"),
    field("BANKING_DETAILS", "string", "Банковские реквизиты"),
    field("INDUSTRY", "crm_status", "Сфера деятельности", "", { statusType: "INDUSTRY" }),
    field("EMPLOYEES", "crm_status", "Кол-во сотрудников", "", { statusType: "EMPLOYEES" }),
    field("CURRENCY_ID", "crm_currency", "Валюта"),
    field("REVENUE", "double", "Годовой оборот"),
    field("OPENED", "char", "Доступна для всех"),
    field("COMMENTS", "string", "Комментарий"),
    field("HAS_PHONE", "char", "Задан телефон", "O"),
    field("HAS_EMAIL", "char", "Задан e-mail", "O"),
    field("HAS_IMOL", "char", "Задана открытая линия", "O"),
    field("IS_MY_COMPANY", "char", "Моя компания"),
    field("ASSIGNED_BY_ID", "user", "Ответственный"),
    audit.createdBy,
    audit.modifiedBy,
    audit.created,
    audit.modified,
    field("CONTACT_ID", "crm_contact", "Контакт", "DX"),
    field("LEAD_ID", "crm_lead", "Лид", "O"),
    field("ORIGINATOR_ID", "string", "Внешний источник"),
    field("ORIGIN_ID", "string", "Идентификатор элемента во внешнем источнике"),
    ...utmFields,
    ...multiFields,
    userField("UF_CRM_1594289998726", "string", "ИНН"),
    userField("UF_CRM_1605533620303", "url", "Карточка компании")
  ],
  (env, id) => {
    const r = rowRandom(env, id)
    const hasPhone = r.chance(0.8)
    const row: Row = {
      ID: id,
      TITLE: companyTitle(r),
      COMPANY_TYPE: r.pick(referenceLists.COMPANY_TYPE ?? []).STATUS_ID,
      ADDRESS_LEGAL: null,
      BANKING_DETAILS: null,
      INDUSTRY: r.pick(referenceLists.INDUSTRY ?? []).STATUS_ID,
      EMPLOYEES: r.pick(["EMPLOYEES_1", "EMPLOYEES_2", "EMPLOYEES_3", "EMPLOYEES_4"]),
      CURRENCY_ID: "RUB",
      REVENUE: r.chance(0.5) ? r.between(1, 5000) * 10_000 : 0,
      OPENED: "Y",
      COMMENTS: null,
      HAS_PHONE: hasPhone ? "Y" : "N",
      HAS_EMAIL: "N",
      HAS_IMOL: "N",
      IS_MY_COMPANY: id === 1 ? "Y" : "N",
      ASSIGNED_BY_ID: pickUser(env, r),
      CONTACT_ID: null,
      LEAD_ID: null,
      ORIGINATOR_ID: null,
      ORIGIN_ID: null,
      PHONE: hasPhone ? [multiValue(id, 0, "PHONE", phoneNumber(r))] : [],
      EMAIL: [],
      WEB: r.chance(0.5) ? [{ ID: String(id * 4 + 2), VALUE_TYPE: "WORK", VALUE: `https://company${id}.example.ru`, TYPE_ID: "WEB" }] : [],
      IM: [],
      UF_CRM_1594289998726: String(7700000000 + (hash3(env.seedNumber, id, 7) % 99_999_999)),
      UF_CRM_1605533620303: null
    }
    auditValues(env, id, r, row)
    address(r, row)
    return row
  }
)

// ---------------------------------------------------------------------------------------------------------
// Smart processes (crm.item with entityTypeId >= 128)
// ---------------------------------------------------------------------------------------------------------

/**
 * Whether a smart process type has the full feature set (pipelines, client, amount, user fields). Real
 * types differ by their settings; the fake makes even type IDs full (`crm.item:1032`) and odd ones basic,
 * like type 133 recorded in crm_item_add, whose items carry only ID, title, authors and times.
 */
export const isFullSmartProcess = (entityTypeId: number): boolean => entityTypeId % 2 === 0

const basicSmartProcessFields: ReadonlySet<string> = new Set([
  "ID", "XML_ID", "TITLE", "CREATED_BY", "UPDATED_BY", "MOVED_BY", "CREATED_TIME", "UPDATED_TIME", "MOVED_TIME"
])

/**
 * A smart process's fields and generator; its user fields are named `UF_CRM_<type>_<n>` (`ufCrm1032_…`).
 * Odd types get the basic field set (see `isFullSmartProcess`).
 */
export const smartProcessEntity = (entityTypeId: number): EntityDef => {
  const full = smartProcessEntityFull(entityTypeId)
  if (isFullSmartProcess(entityTypeId)) return full
  return entity(full.name, full.fields.filter((f) => basicSmartProcessFields.has(f.upper)), full.generate)
}

const smartProcessEntityFull = (entityTypeId: number): EntityDef => {
  const categories = smartProcessCategoryIds(entityTypeId)
  const stagesByCategory = new Map(categories.map((c) => [c, smartProcessStages(entityTypeId, c)]))
  const pickSmartStage = weightedPicker([30, 25, 20, 15, 10])
  const categoryOf = (env: GenEnv, id: number): number => (rowHash(env, id, 0xca7) % 10 < 7 ? categories[0] : categories[1])
  const stageIndex = (env: GenEnv, id: number): number => pickSmartStage(rowHash(env, id, 0x57a))
  const stageOf = (env: GenEnv, id: number): string =>
    stagesByCategory.get(categoryOf(env, id))?.[stageIndex(env, id)]?.STATUS_ID ?? ""
  const ufDate = `UF_CRM_${entityTypeId}_1712074666`
  const ufText = `UF_CRM_${entityTypeId}_1712074701`
  return entity(
    `crm.item:${entityTypeId}`,
    [
      field("ID", "integer", "ID", "O"),
      field("XML_ID", "string", "Внешний код"),
      field("TITLE", "string", "Название"),
      field("CREATED_BY", "user", "Кем создан", "O"),
      field("UPDATED_BY", "user", "Кем изменен", "O"),
      field("MOVED_BY", "user", "Кем перемещен", "O"),
      field("CREATED_TIME", "datetime", "Дата создания", "O"),
      field("UPDATED_TIME", "datetime", "Дата изменения", "O"),
      field("MOVED_TIME", "datetime", "Дата перемещения", "O"),
      field("CATEGORY_ID", "crm_category", "Воронка"),
      field("OPENED", "char", "Доступен для всех"),
      field("STAGE_ID", "crm_status", "Стадия", "", { statusType: `DYNAMIC_${entityTypeId}_STAGE` }),
      field("PREVIOUS_STAGE_ID", "crm_status", "Предыдущая стадия", "O"),
      field("BEGINDATE", "date", "Дата начала"),
      field("CLOSEDATE", "date", "Дата завершения"),
      field("COMPANY_ID", "crm_company", "Компания"),
      field("CONTACT_ID", "crm_contact", "Контакт", "D"),
      field("OPPORTUNITY", "double", "Сумма"),
      field("IS_MANUAL_OPPORTUNITY", "char", "Сумма заполняется вручную"),
      field("TAX_VALUE", "double", "Сумма налога"),
      field("CURRENCY_ID", "crm_currency", "Валюта"),
      field("MYCOMPANY_ID", "crm_company", "Реквизиты вашей компании"),
      field("SOURCE_ID", "crm_status", "Источник", "", { statusType: "SOURCE" }),
      field("SOURCE_DESCRIPTION", "string", "Дополнительно об источнике"),
      field("ASSIGNED_BY_ID", "user", "Ответственный"),
      field("LAST_ACTIVITY_BY", "user", "Автор последней активности", "O"),
      field("LAST_ACTIVITY_TIME", "datetime", "Последняя активность", "O"),
      userField(ufDate, "date", "Дата мероприятия"),
      userField(ufText, "string", "Площадка")
    ],
    (env, id) => {
      const r = rowRandom(env, id)
      const created = createdAt(env, id, r)
      const updated = created + r.int(30 * DAY)
      const creator = pickUser(env, r)
      const categoryId = categoryOf(env, id)
      const stages = stagesByCategory.get(categoryId) ?? []
      const index = stageIndex(env, id)
      return {
        ID: id,
        XML_ID: "",
        TITLE: r.chance(0.5) ? `Мероприятие «${companyTitle(r)}»` : dealTitle(r, id),
        CREATED_BY: creator,
        UPDATED_BY: creator,
        MOVED_BY: creator,
        CREATED_TIME: created,
        UPDATED_TIME: updated,
        MOVED_TIME: updated,
        CATEGORY_ID: categoryId,
        OPENED: "Y",
        STAGE_ID: stages[index]?.STATUS_ID ?? null,
        PREVIOUS_STAGE_ID: index > 0 ? stages[index - 1]?.STATUS_ID ?? "" : "",
        BEGINDATE: created,
        CLOSEDATE: created + r.between(7, 60) * DAY,
        COMPANY_ID: r.chance(0.5) ? env.refs.pick("crm.company", r.int(0x7fffffff)) ?? 0 : 0,
        CONTACT_ID: r.chance(0.5) ? env.refs.pick("crm.contact", r.int(0x7fffffff)) ?? 0 : 0,
        OPPORTUNITY: r.between(0, 500) * 1000,
        IS_MANUAL_OPPORTUNITY: "N",
        TAX_VALUE: 0,
        CURRENCY_ID: "RUB",
        MYCOMPANY_ID: 0,
        SOURCE_ID: r.pick(referenceLists.SOURCE ?? []).STATUS_ID,
        SOURCE_DESCRIPTION: "",
        ASSIGNED_BY_ID: pickUser(env, r),
        LAST_ACTIVITY_BY: creator,
        LAST_ACTIVITY_TIME: updated,
        [ufDate]: r.chance(0.7) ? created + r.between(1, 90) * DAY : null,
        [ufText]: r.chance(0.5) ? r.pick(["Онлайн", "Москва, Экспоцентр", "Санкт-Петербург, Ленэкспо"]) : null
      }
    },
    {
      columns: [
        { field: "CATEGORY_ID", valueOf: categoryOf },
        { field: "STAGE_ID", valueOf: stageOf }
      ]
    }
  )
}

// ---------------------------------------------------------------------------------------------------------
// Stage history (crm.stagehistory.list)
// ---------------------------------------------------------------------------------------------------------

/** The CRM table an entityTypeId points at: 1–4 are the classic tables, others smart processes. */
export const crmTableName = (entityTypeId: number): string =>
  entityTypeId === 1
    ? "crm.lead"
    : entityTypeId === 2
    ? "crm.deal"
    : entityTypeId === 3
    ? "crm.contact"
    : entityTypeId === 4
    ? "crm.company"
    : `crm.item:${entityTypeId}`

/**
 * Stage history of leads (STATUS_ID) or deals and smart processes (CATEGORY_ID, STAGE_ID); UPPER keys as in
 * the stagehistory fixture. Each record points at a seeded owner; times grow with the record ID.
 */
export const stageHistoryEntity = (entityTypeId: number): EntityDef => {
  const isLead = entityTypeId === 1
  const ownerTable = crmTableName(entityTypeId)
  const categoryIds: ReadonlyArray<number> = entityTypeId === 2 ? dealCategories.map((c) => c.id) : smartProcessCategoryIds(entityTypeId)
  const stagesByCategory = new Map(
    categoryIds.map((c) => [c, entityTypeId === 2 ? dealStages(c) : smartProcessStages(entityTypeId, c)] as const)
  )
  const categoryOf = (env: GenEnv, id: number): number => categoryIds[rowHash(env, id, 0xca7) % categoryIds.length] ?? 0
  const stageOf = (env: GenEnv, id: number): StatusEntry | undefined => {
    const stages = isLead ? leadStatuses : stagesByCategory.get(categoryOf(env, id)) ?? []
    return stages[rowHash(env, id, 0x57a) % stages.length]
  }
  const common = [
    field("ID", "integer", "ID", "O"),
    field("TYPE_ID", "integer", "Тип записи", "O"),
    field("OWNER_ID", "integer", "Элемент", "O"),
    field("CREATED_TIME", "datetime", "Время", "O")
  ]
  const specific = isLead
    ? [field("STATUS_SEMANTIC_ID", "string", "Семантика", "O"), field("STATUS_ID", "crm_status", "Статус", "O")]
    : [
      field("CATEGORY_ID", "crm_category", "Воронка", "O"),
      field("STAGE_SEMANTIC_ID", "string", "Семантика", "O"),
      field("STAGE_ID", "crm_status", "Стадия", "O")
    ]
  const stageField = isLead ? "STATUS_ID" : "STAGE_ID"
  return entity(
    `crm.stagehistory:${entityTypeId}`,
    [...common, ...specific],
    (env, id) => {
      const r = rowRandom(env, id)
      const stage = stageOf(env, id)
      const row: Row = {
        ID: id,
        TYPE_ID: r.chance(0.3) ? 1 : 2,
        OWNER_ID: env.refs.pick(ownerTable, r.int(0x7fffffff)) ?? 1,
        CREATED_TIME: createdAt(env, id, r),
        [stageField]: stage?.STATUS_ID ?? "NEW"
      }
      if (isLead) row.STATUS_SEMANTIC_ID = stage?.semantics ?? "P"
      else {
        row.CATEGORY_ID = categoryOf(env, id)
        row.STAGE_SEMANTIC_ID = stage?.semantics ?? "P"
      }
      return row
    },
    { columns: [{ field: stageField, valueOf: (env, id) => stageOf(env, id)?.STATUS_ID ?? "NEW" }] }
  )
}

// ---------------------------------------------------------------------------------------------------------
// Categories (crm.category.list) and status lists
// ---------------------------------------------------------------------------------------------------------

/** Category rows (`crm.category.list`): camelCase, int `id`; the default category has no origin keys. */
export const categoryEntity: EntityDef = entity(
  "crm.category",
  [
    field("ID", "integer", "ID", "O"),
    field("NAME", "string", "Название"),
    field("SORT", "integer", "Сортировка"),
    field("ENTITY_TYPE_ID", "integer", "Тип", "O"),
    field("IS_DEFAULT", "char", "По умолчанию"),
    field("ORIGIN_ID", "string", "Внешний код"),
    field("ORIGINATOR_ID", "string", "Внешний источник")
  ],
  (_env, id) => ({ ID: id }),
  { sparse: true }
)

/** The categories of an entity type, as rows of `categoryEntity`. */
export const categoryRows = (entityTypeId: number): ReadonlyArray<Row> => {
  const list: ReadonlyArray<{ readonly id: number; readonly name: string; readonly sort: number }> =
    entityTypeId === 2
      ? dealCategories
      : entityTypeId >= 128
      ? smartProcessCategoryIds(entityTypeId).map((id, i) => ({ id, name: i === 0 ? "Общая" : "Партнёрская", sort: (i + 1) * 100 }))
      : [{ id: 0, name: "Общая", sort: 100 }]
  return list.map((c, i): Row =>
    i === 0
      ? { ID: c.id, NAME: c.name, SORT: c.sort, ENTITY_TYPE_ID: entityTypeId, IS_DEFAULT: "Y" }
      : { ID: c.id, NAME: c.name, SORT: c.sort, ENTITY_TYPE_ID: entityTypeId, IS_DEFAULT: "N", ORIGIN_ID: "", ORIGINATOR_ID: "" }
  )
}

/**
 * The entries of a `crm.status` list by ENTITY_ID (`STATUS`, `SOURCE`, `DEAL_STAGE`, `DEAL_STAGE_3`,
 * `DYNAMIC_1032_STAGE_…`), or `undefined` for an unknown list.
 */
export const statusEntries = (entityId: string): ReadonlyArray<{ readonly NAME: string; readonly SORT: number; readonly STATUS_ID: string }> | undefined => {
  const strip = (entries: ReadonlyArray<{ NAME: string; SORT: number; STATUS_ID: string }>) =>
    entries.map(({ NAME, SORT, STATUS_ID }) => ({ NAME, SORT, STATUS_ID }))
  if (entityId === "STATUS") return strip(leadStatuses)
  if (entityId === "DEAL_STAGE") return strip(dealStages(0))
  const dealCategory = /^DEAL_STAGE_(\d+)$/.exec(entityId)
  if (dealCategory !== null) {
    const id = Number(dealCategory[1])
    return dealCategories.some((c) => c.id === id) ? strip(dealStages(id)) : undefined
  }
  const dynamic = /^DYNAMIC_(\d+)_STAGE_(\d+)$/.exec(entityId)
  if (dynamic !== null) return strip(smartProcessStages(Number(dynamic[1]), Number(dynamic[2])))
  const reference = referenceLists[entityId]
  return reference === undefined ? undefined : strip(reference)
}

// ---------------------------------------------------------------------------------------------------------
// Product rows (crm.item.productrow.list): derived from their owner, 0–3 per owner
// ---------------------------------------------------------------------------------------------------------

/** Product rows; generated per owner, never seeded. */
export const productRowEntity: EntityDef = entity(
  "crm.item.productrow",
  [
    field("ID", "integer", "ID", "O"),
    field("OWNER_ID", "integer", "ID владельца"),
    field("OWNER_TYPE", "string", "Тип владельца"),
    field("PRODUCT_ID", "integer", "Товар"),
    field("PRODUCT_NAME", "string", "Название товара"),
    field("PRICE", "double", "Цена"),
    field("PRICE_ACCOUNT", "double", "Цена в валюте отчётов", "O"),
    field("PRICE_EXCLUSIVE", "double", "Цена без налога", "O"),
    field("PRICE_NETTO", "double", "Цена без скидки", "O"),
    field("PRICE_BRUTTO", "double", "Цена с налогом", "O"),
    field("QUANTITY", "double", "Количество"),
    field("DISCOUNT_TYPE_ID", "integer", "Тип скидки"),
    field("DISCOUNT_RATE", "double", "Скидка, %"),
    field("DISCOUNT_SUM", "double", "Сумма скидки"),
    field("TAX_RATE", "double", "Налог, %"),
    field("TAX_INCLUDED", "char", "Налог включён"),
    field("CUSTOMIZED", "char", "Изменён"),
    field("MEASURE_CODE", "integer", "Код единицы измерения"),
    field("MEASURE_NAME", "string", "Единица измерения"),
    field("SORT", "integer", "Сортировка"),
    field("XML_ID", "string", "Внешний код"),
    field("TYPE", "integer", "Тип товара", "O")
  ],
  (_env, id) => ({ ID: id })
)

/** Short owner type codes of product rows: `L`, `D`, and `T<hex type>` for smart processes (`Tb3` = 179). */
export const ownerTypeCode = (entityTypeId: number): string =>
  entityTypeId === 1 ? "L" : entityTypeId === 2 ? "D" : entityTypeId === 7 ? "Q" : `T${entityTypeId.toString(16)}`

/** The entityTypeId of a short owner type code, or `undefined`. */
export const entityTypeOfOwnerCode = (code: string): number | undefined => {
  if (code === "L") return 1
  if (code === "D") return 2
  const smart = /^T([0-9a-f]+)$/i.exec(code)
  return smart === null ? undefined : Number.parseInt(smart[1] as string, 16)
}

/** The 0–3 product rows of one owner, with IDs unique across owners. */
export const productRowsOf = (seedNumber: number, entityTypeId: number, ownerId: number): ReadonlyArray<Row> => {
  const r = random(hash3(seedNumber, entityTypeId * 7919, ownerId))
  const count = r.int(4)
  const rows: Array<Row> = []
  for (let k = 0; k < count; k++) {
    const price = r.between(1, 500) * 100
    const quantity = r.between(1, 20)
    const product = r.int(productNames.length)
    rows.push({
      ID: ownerId * 40 + (entityTypeId % 10) * 4 + k + 1,
      OWNER_ID: ownerId,
      OWNER_TYPE: ownerTypeCode(entityTypeId),
      PRODUCT_ID: 10_000 + product * 2 + 1,
      PRODUCT_NAME: productNames[product],
      PRICE: price,
      PRICE_ACCOUNT: price,
      PRICE_EXCLUSIVE: price,
      PRICE_NETTO: price,
      PRICE_BRUTTO: price,
      QUANTITY: quantity,
      DISCOUNT_TYPE_ID: 2,
      DISCOUNT_RATE: 0,
      DISCOUNT_SUM: 0,
      TAX_RATE: null,
      TAX_INCLUDED: "Y",
      CUSTOMIZED: "Y",
      MEASURE_CODE: 796,
      MEASURE_NAME: "шт",
      SORT: (k + 1) * 10,
      XML_ID: "",
      TYPE: 1
    })
  }
  return rows
}

/**
 * The contacts linked to a deal or company (`crm.deal.contact.items.get`, `crm.company.contact.items.get`):
 * the row's own CONTACT_ID first (primary), then up to three more seeded contacts.
 */
export const linkedContacts = (
  seedNumber: number,
  owner: string,
  ownerId: number,
  primary: number | undefined,
  pickContact: (hash: number) => number | undefined
): ReadonlyArray<{ readonly CONTACT_ID: number; readonly SORT: number; readonly ROLE_ID: number; readonly IS_PRIMARY: "Y" | "N" }> => {
  const r = random(hash3(seedNumber, owner.length * 131 + 17, ownerId))
  const ids: Array<number> = primary === undefined ? [] : [primary]
  const wanted = r.int(4)
  for (let k = 0; ids.length < wanted && k < 8; k++) {
    const id = pickContact(r.int(0x7fffffff))
    if (id !== undefined && !ids.includes(id)) ids.push(id)
  }
  return ids.map((CONTACT_ID, i) => ({ CONTACT_ID, SORT: (i + 1) * 10, ROLE_ID: 0, IS_PRIMARY: i === 0 ? "Y" : "N" }))
}
