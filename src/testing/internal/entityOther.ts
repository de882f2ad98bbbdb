/**
 * Non-CRM entities of the fake portal: users, tasks (with elapsed-time items), workgroups, catalog document
 * elements and list elements. Key sets follow the recorded fixtures (single_add for a task, user_fields for a
 * user, task_elapseditem_getlist_mixed_types for elapsed items).
 */
import {
  emailOf,
  formatDateTime,
  hash3,
  hashString,
  personName,
  phoneNumber,
  random,
  taskTitle,
  transliterate,
  workgroupNames,
  type PersonName
} from "./seed.js"
import {
  camelToUpper,
  createdAt,
  entity,
  field,
  pickUser,
  rowHash,
  rowRandom,
  type EntityDef,
  type FieldDef,
  type FieldExtra,
  type GenEnv,
  type Row
} from "./entityModel.js"

const DAY = 86_400_000

// ---------------------------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------------------------

const userSalt = hashString("user")

/** The name of user `id`: the same generator `user.get` uses, so tasks can print their people's names. */
export const userPerson = (seedNumber: number, id: number): PersonName => personName(random(hash3(seedNumber, userSalt, id)))

const userFieldLabels: ReadonlyArray<readonly [string, string, string]> = [
  ["ID", "integer", "ID"], ["XML_ID", "string", "Внешний код"], ["ACTIVE", "boolean", "Активность"],
  ["NAME", "string", "Имя"], ["LAST_NAME", "string", "Фамилия"], ["SECOND_NAME", "string", "Отчество"],
  ["TITLE", "string", "Список пользователей"], ["EMAIL", "string", "E-Mail"],
  ["LAST_LOGIN", "datetime", "Последняя авторизация"], ["DATE_REGISTER", "datetime", "Дата регистрации"],
  ["TIME_ZONE", "string", "TIME_ZONE"], ["IS_ONLINE", "char", "IS_ONLINE"], ["TIME_ZONE_OFFSET", "integer", "TIME_ZONE_OFFSET"],
  ["TIMESTAMP_X", "datetime", "TIMESTAMP_X"], ["LAST_ACTIVITY_DATE", "datetime", "LAST_ACTIVITY_DATE"],
  ["PERSONAL_GENDER", "string", "Пол"], ["PERSONAL_PROFESSION", "string", "Профессия"],
  ["PERSONAL_WWW", "string", "Домашняя страничка"], ["PERSONAL_BIRTHDAY", "date", "Дата рождения"],
  ["PERSONAL_PHOTO", "string", "Фотография"], ["PERSONAL_ICQ", "string", "ICQ"], ["PERSONAL_PHONE", "string", "Личный телефон"],
  ["PERSONAL_FAX", "string", "Факс"], ["PERSONAL_MOBILE", "string", "Личный мобильный"], ["PERSONAL_PAGER", "string", "Пейджер"],
  ["PERSONAL_STREET", "string", "Улица проживания"], ["PERSONAL_CITY", "string", "Город проживания"],
  ["PERSONAL_STATE", "string", "Область / край"], ["PERSONAL_ZIP", "string", "Почтовый индекс"],
  ["PERSONAL_COUNTRY", "string", "Страна"], ["PERSONAL_MAILBOX", "string", "Почтовый ящик"],
  ["PERSONAL_NOTES", "string", "Дополнительные заметки"], ["WORK_PHONE", "string", "Телефон компании"],
  ["WORK_COMPANY", "string", "Компания"], ["WORK_POSITION", "string", "Должность"], ["WORK_DEPARTMENT", "string", "Отдел"],
  ["WORK_WWW", "string", "Сайт компании"], ["WORK_FAX", "string", "WORK_FAX"], ["WORK_PAGER", "string", "WORK_PAGER"],
  ["WORK_STREET", "string", "WORK_STREET"], ["WORK_MAILBOX", "string", "WORK_MAILBOX"], ["WORK_CITY", "string", "Город работы"],
  ["WORK_STATE", "string", "WORK_STATE"], ["WORK_ZIP", "string", "WORK_ZIP"], ["WORK_COUNTRY", "string", "WORK_COUNTRY"],
  ["WORK_PROFILE", "string", "WORK_PROFILE"], ["WORK_LOGO", "string", "WORK_LOGO"], ["WORK_NOTES", "string", "WORK_NOTES"],
  ["UF_SKYPE_LINK", "string", "Ссылка на чат в Skype"], ["UF_ZOOM", "string", "Zoom"],
  ["UF_EMPLOYMENT_DATE", "date", "Дата принятия на работу"], ["UF_TIMEMAN", "string", "Учет рабочего времени"],
  ["UF_DEPARTMENT", "list", "Подразделения"], ["UF_INTERESTS", "string", "Интересы"], ["UF_SKILLS", "string", "Навыки"],
  ["UF_WEB_SITES", "string", "Другие сайты"], ["UF_XING", "string", "Xing"], ["UF_LINKEDIN", "string", "LinkedIn"],
  ["UF_FACEBOOK", "string", "Facebook"], ["UF_TWITTER", "string", "Twitter"], ["UF_SKYPE", "string", "Skype"],
  ["UF_DISTRICT", "string", "Район"], ["UF_PHONE_INNER", "string", "Внутренний телефон"], ["USER_TYPE", "string", "USER_TYPE"]
]

/** `user.fields`: field code → label, the 64 keys of the user_fields fixture. */
export const userFieldsDictionary: Readonly<Record<string, string>> = Object.fromEntries(
  userFieldLabels.map(([code, , label]) => [code, label])
)

const positions: ReadonlyArray<string> = ["Менеджер по продажам", "Бухгалтер", "Разработчик", "Руководитель отдела", "Маркетолог", "Логист"]
const departments: ReadonlyArray<string> = ["Продажи", "Бухгалтерия", "Разработка", "Маркетинг", "Склад"]

/** Users (`user.get`, `user.current`). ID 1 is the webhook owner. */
export const userEntity: EntityDef = entity(
  "user",
  userFieldLabels.map(([code, type, label]) => field(code, type, label, code === "ID" ? "O" : "")),
  (env, id) => {
    const r = rowRandom(env, id)
    const person = personName(r)
    const registered = createdAt(env, id, r)
    const lastLogin = registered + r.int(400) * DAY
    const department = r.int(departments.length)
    const row: Row = {}
    for (const [code, type] of userFieldLabels) row[code] = type === "string" || type === "char" ? "" : null
    Object.assign(row, {
      ID: id,
      ACTIVE: id === 1 || r.chance(0.9),
      NAME: person.name,
      LAST_NAME: person.lastName,
      SECOND_NAME: r.chance(0.5) ? person.secondName : "",
      EMAIL: emailOf(person, r),
      LAST_LOGIN: lastLogin,
      DATE_REGISTER: registered,
      IS_ONLINE: r.chance(0.2) ? "Y" : "N",
      TIME_ZONE_OFFSET: 10_800,
      TIMESTAMP_X: lastLogin,
      LAST_ACTIVITY_DATE: lastLogin,
      PERSONAL_GENDER: person.gender,
      PERSONAL_BIRTHDAY: r.chance(0.5) ? Date.UTC(1965 + r.int(35), r.int(12), 1 + r.int(28)) : null,
      PERSONAL_MOBILE: r.chance(0.6) ? phoneNumber(r) : "",
      PERSONAL_CITY: r.chance(0.5) ? "Москва" : "",
      WORK_POSITION: r.pick(positions),
      WORK_DEPARTMENT: departments[department],
      WORK_PHONE: r.chance(0.3) ? phoneNumber(r) : "",
      UF_EMPLOYMENT_DATE: registered,
      UF_DEPARTMENT: [department + 1],
      UF_PHONE_INNER: r.chance(0.5) ? String(100 + r.int(900)) : "",
      USER_TYPE: "employee"
    })
    return row
  }
)

// ---------------------------------------------------------------------------------------------------------
// Tasks
// ---------------------------------------------------------------------------------------------------------

const taskField = (camel: string, type: string, flags = "", extra: FieldExtra = {}): FieldDef =>
  field(camelToUpper(camel), type, camel, flags, { camel, ...extra })

/** The task fields in the order of the single_add fixture (87 keys), plus `subStatus` for lists. */
const taskFields: ReadonlyArray<FieldDef> = [
  taskField("id", "integer", "O"), taskField("title", "string", "R"), taskField("description", "string"),
  taskField("descriptionInBbcode", "char"), taskField("declineReason", "string"), taskField("priority", "integer"),
  taskField("status", "integer"), taskField("notViewed", "char"), taskField("statusComplete", "integer"),
  taskField("multitask", "char"), taskField("stageId", "integer"), taskField("responsibleId", "user", "R"),
  taskField("responsibleName", "string", "O"), taskField("responsibleLastName", "string", "O"),
  taskField("responsibleSecondName", "string", "O"), taskField("responsibleLogin", "string", "O"),
  taskField("responsibleWorkPosition", "string", "O"), taskField("responsiblePhoto", "string", "O"),
  taskField("dateStart", "datetime"), taskField("durationFact", "integer"), taskField("timeEstimate", "integer"),
  taskField("timeSpentInLogs", "integer", "O"), taskField("replicate", "char"), taskField("deadline", "datetime"),
  taskField("deadlineOrig", "string", "O"), taskField("startDatePlan", "datetime"), taskField("endDatePlan", "datetime"),
  taskField("createdBy", "user"), taskField("createdByName", "string", "O"), taskField("createdByLastName", "string", "O"),
  taskField("createdBySecondName", "string", "O"), taskField("createdByLogin", "string", "O"),
  taskField("createdByWorkPosition", "string", "O"), taskField("createdByPhoto", "string", "O"),
  taskField("createdDate", "datetime", "O"), taskField("changedBy", "user", "O"), taskField("changedDate", "datetime", "O"),
  taskField("statusChangedBy", "user", "O"), taskField("statusChangedDate", "datetime", "O"), taskField("closedBy", "user", "O"),
  taskField("closedDate", "datetime", "O"), taskField("activityDate", "datetime", "O"), taskField("guid", "string", "O"),
  taskField("xmlId", "string"), taskField("mark", "string"), taskField("allowChangeDeadline", "char"),
  taskField("allowTimeTracking", "char"), taskField("matchWorkTime", "char"), taskField("taskControl", "char"),
  taskField("addInReport", "char"), taskField("groupId", "integer"), taskField("forumTopicId", "integer", "O"),
  taskField("parentId", "integer"), taskField("commentsCount", "integer", "O"), taskField("serviceCommentsCount", "integer", "O"),
  taskField("forumId", "integer", "O"), taskField("siteId", "string"), taskField("subordinate", "char", "O"),
  taskField("exchangeModified", "datetime", "O"), taskField("exchangeId", "string", "O"), taskField("outlookVersion", "integer", "O"),
  taskField("viewedDate", "datetime", "O"), taskField("deadlineCounted", "integer", "O"), taskField("forkedByTemplateId", "integer", "O"),
  taskField("favorite", "char", "O"), taskField("sorting", "double", "O"), taskField("durationPlanSeconds", "integer", "O"),
  taskField("durationTypeAll", "string", "O"), taskField("durationPlan", "integer"), taskField("durationType", "string"),
  taskField("isMuted", "char", "O"), taskField("isPinned", "char", "O"), taskField("isPinnedInGroup", "char", "O"),
  taskField("ufCrmTask", "object"), taskField("ufTaskWebdavFiles", "object"), taskField("ufMailMessage", "object"),
  taskField("auditors", "list", "M"), taskField("accomplices", "list", "M"), taskField("tags", "list", "M"),
  taskField("checklist", "list", "O"), taskField("files", "list", "O"), taskField("dependsOn", "list", "M"),
  taskField("group", "object", "O"), taskField("creator", "object", "O"), taskField("responsible", "object", "O"),
  taskField("newCommentsCount", "integer", "ON"), taskField("action", "object", "O"),
  taskField("subStatus", "integer", "OX")
]

const taskActions: Readonly<Record<string, boolean>> = {
  accept: false, decline: false, complete: true, approve: false, disapprove: false, start: true, pause: false,
  delegate: true, remove: true, edit: true, defer: true, renew: false, create: true, changeDeadline: true,
  checklistAddItems: true, addFavorite: true, deleteFavorite: false, rate: true, "edit.originator": false,
  "checklist.reorder": true, "elapsedtime.add": true, "dayplan.timer.toggle": false, "edit.plan": true,
  "checklist.add": true, "favorite.add": true, "favorite.delete": false
}

/** Statuses of generated tasks: 2 pending, 3 in progress, 4 awaiting control, 5 completed, 6 deferred. */
const taskStatusWeights: ReadonlyArray<readonly [number, number]> = [[2, 35], [3, 25], [4, 10], [5, 25], [6, 5]]

const taskStatusOf = (env: GenEnv, id: number): number => {
  const point = rowHash(env, id, 0x5a7) % 100
  let acc = 0
  for (const [status, weight] of taskStatusWeights) {
    acc += weight
    if (point < acc) return status
  }
  return 2
}

const taskResponsibleOf = (env: GenEnv, id: number): number => env.refs.pick("user", rowHash(env, id, 0x7e5)) ?? 1

const personRef = (seedNumber: number, userId: number): Row => {
  const person = userPerson(seedNumber, userId)
  return {
    id: String(userId),
    name: `${person.name} ${person.lastName}`,
    link: `/company/personal/user/${userId}/`,
    icon: "/bitrix/images/tasks/default_avatar.png"
  }
}

/** Fields of a task computed from others (people's names, the group object); run after every write. */
export const deriveTaskFields = (seedNumber: number, row: Row): void => {
  for (const role of ["responsible", "createdBy"] as const) {
    const idField = role === "responsible" ? "RESPONSIBLE_ID" : "CREATED_BY"
    const prefix = role === "responsible" ? "RESPONSIBLE" : "CREATED_BY"
    const userId = typeof row[idField] === "number" ? (row[idField] as number) : 1
    const person = userPerson(seedNumber, userId)
    row[`${prefix}_NAME`] = person.name
    row[`${prefix}_LAST_NAME`] = person.lastName
    row[`${prefix}_SECOND_NAME`] = null
    row[`${prefix}_LOGIN`] = userId === 1 ? "admin" : transliterate(person.lastName)
    row[`${prefix}_WORK_POSITION`] = null
    row[`${prefix}_PHOTO`] = null
  }
  row.CREATOR = personRef(seedNumber, typeof row.CREATED_BY === "number" ? row.CREATED_BY : 1)
  row.RESPONSIBLE = personRef(seedNumber, typeof row.RESPONSIBLE_ID === "number" ? row.RESPONSIBLE_ID : 1)
  const groupId = typeof row.GROUP_ID === "number" ? row.GROUP_ID : 0
  // PHP prints an empty group as [] (empty array), a real one as an object
  row.GROUP = groupId === 0
    ? []
    : { id: String(groupId), name: workgroupNames[groupId % workgroupNames.length], opened: false, membersCount: 1 + (groupId % 9), image: "", additionalData: [] }
  row.DEADLINE_ORIG = typeof row.DEADLINE === "number" ? formatDateTime(row.DEADLINE).slice(0, 19).replace("T", " ") : null
  row.STATUS_COMPLETE = row.STATUS === 5 ? 2 : 1
  row.SUB_STATUS = row.STATUS
}

/** A task GUID, `{bbe24f38-df7f-42d4-b172-9ebf432559ed}` style, from the task ID. */
const guidOf = (seedNumber: number, id: number): string => {
  const hex = (i: number, length: number): string => hash3(seedNumber, id, i).toString(16).padStart(8, "0").slice(0, length)
  return `{${hex(0, 8)}-${hex(1, 4)}-${hex(2, 4)}-${hex(3, 4)}-${hex(4, 8)}${hex(5, 4)}}`
}

/** Tasks (`tasks.task.*`): rows are printed camelCase with string values; filters and order use UPPER names. */
export const taskEntity: EntityDef = entity(
  "tasks.task",
  taskFields,
  (env, id) => {
    const r = rowRandom(env, id)
    const status = taskStatusOf(env, id)
    const created = createdAt(env, id, r)
    const changed = created + r.int(20) * DAY + r.int(DAY)
    const creator = pickUser(env, r)
    const deadline = r.chance(0.6) ? created + r.between(1, 30) * DAY : null
    const closed = status === 5 ? changed : null
    const group = r.chance(0.3) ? env.refs.pick("socialnetwork.api.workgroup", r.int(0x7fffffff)) ?? 0 : 0
    const row: Row = {
      ID: id,
      TITLE: taskTitle(r),
      DESCRIPTION: r.chance(0.6) ? "Подробности во вложении. Срок — по договорённости с клиентом." : "",
      DESCRIPTION_IN_BBCODE: "Y",
      DECLINE_REASON: null,
      PRIORITY: r.chance(0.2) ? 2 : 1,
      STATUS: status,
      NOT_VIEWED: "N",
      MULTITASK: "N",
      STAGE_ID: 0,
      RESPONSIBLE_ID: taskResponsibleOf(env, id),
      DATE_START: status >= 3 ? created + r.int(DAY) : null,
      DURATION_FACT: null,
      TIME_ESTIMATE: r.chance(0.3) ? r.between(1, 16) * 3600 : 0,
      TIME_SPENT_IN_LOGS: null,
      REPLICATE: "N",
      DEADLINE: deadline,
      START_DATE_PLAN: null,
      END_DATE_PLAN: null,
      CREATED_BY: creator,
      CREATED_DATE: created,
      CHANGED_BY: creator,
      CHANGED_DATE: changed,
      STATUS_CHANGED_BY: creator,
      STATUS_CHANGED_DATE: changed,
      CLOSED_BY: closed === null ? null : creator,
      CLOSED_DATE: closed,
      ACTIVITY_DATE: changed,
      GUID: guidOf(env.seedNumber, id),
      XML_ID: null,
      MARK: null,
      ALLOW_CHANGE_DEADLINE: "N",
      ALLOW_TIME_TRACKING: r.chance(0.3) ? "Y" : "N",
      MATCH_WORK_TIME: "N",
      TASK_CONTROL: "N",
      ADD_IN_REPORT: "N",
      GROUP_ID: group,
      FORUM_TOPIC_ID: null,
      PARENT_ID: null,
      COMMENTS_COUNT: null,
      SERVICE_COMMENTS_COUNT: null,
      FORUM_ID: null,
      SITE_ID: "s1",
      SUBORDINATE: "N",
      EXCHANGE_MODIFIED: null,
      EXCHANGE_ID: null,
      OUTLOOK_VERSION: 1,
      VIEWED_DATE: null,
      DEADLINE_COUNTED: 0,
      FORKED_BY_TEMPLATE_ID: null,
      FAVORITE: "N",
      SORTING: null,
      DURATION_PLAN_SECONDS: null,
      DURATION_TYPE_ALL: "days",
      DURATION_PLAN: null,
      DURATION_TYPE: "days",
      IS_MUTED: "N",
      IS_PINNED: "N",
      IS_PINNED_IN_GROUP: "N",
      UF_CRM_TASK: false,
      UF_TASK_WEBDAV_FILES: false,
      UF_MAIL_MESSAGE: null,
      AUDITORS: [],
      ACCOMPLICES: [],
      TAGS: r.chance(0.3) ? [r.pick(["срочно", "клиент", "отчёт", "скпэ22-2"])] : [],
      CHECKLIST: [],
      FILES: [],
      DEPENDS_ON: [],
      NEW_COMMENTS_COUNT: 0,
      ACTION: taskActions
    }
    deriveTaskFields(env.seedNumber, row)
    return row
  },
  {
    columns: [
      { field: "STATUS", valueOf: taskStatusOf },
      { field: "RESPONSIBLE_ID", valueOf: taskResponsibleOf }
    ],
    creationDefaults: {
      STATUS: 2, PRIORITY: 1, GROUP_ID: 0, PARENT_ID: null, DESCRIPTION: "", DEADLINE: null, DATE_START: null,
      CLOSED_BY: null, CLOSED_DATE: null, TIME_ESTIMATE: 0, TAGS: [], ALLOW_TIME_TRACKING: "N"
    }
  }
)

/** Time-tracking records of one task (`task.elapseditem.getlist`): 0–2 per task, UPPER keys. */
export const elapsedItemEntity: EntityDef = entity(
  "task.elapseditem",
  [
    field("ID", "integer", "ID", "O"),
    field("TASK_ID", "integer", "Задача"),
    field("USER_ID", "user", "Пользователь"),
    field("COMMENT_TEXT", "string", "Комментарий"),
    field("SECONDS", "integer", "Секунды"),
    field("MINUTES", "integer", "Минуты"),
    field("SOURCE", "integer", "Источник"),
    field("CREATED_DATE", "datetime", "Создано"),
    field("DATE_START", "datetime", "Начало"),
    field("DATE_STOP", "datetime", "Окончание")
  ],
  (_env, id) => ({ ID: id })
)

/** The elapsed-time items of a task, derived from its ID and creation date. */
export const elapsedItemsOf = (seedNumber: number, taskId: number, taskCreatedMs: number, pickUserId: (hash: number) => number): ReadonlyArray<Row> => {
  const r = random(hash3(seedNumber, 0xe1a, taskId))
  const count = r.int(3)
  const rows: Array<Row> = []
  for (let k = 0; k < count; k++) {
    const minutes = r.pick([5, 10, 35, 51, 170, 240])
    const start = taskCreatedMs + r.between(1, 20) * DAY
    rows.push({
      ID: taskId * 3 + k + 1,
      TASK_ID: taskId,
      USER_ID: pickUserId(r.int(0x7fffffff)),
      COMMENT_TEXT: "",
      SECONDS: minutes * 60 + (r.chance(0.2) ? r.int(60) : 0),
      MINUTES: minutes,
      SOURCE: r.chance(0.8) ? 2 : 3,
      CREATED_DATE: start,
      DATE_START: start,
      DATE_STOP: start + minutes * 60_000
    })
  }
  return rows
}

// ---------------------------------------------------------------------------------------------------------
// Workgroups, catalog document elements, list elements
// ---------------------------------------------------------------------------------------------------------

/** Workgroups (`socialnetwork.api.workgroup.list`): filter by UPPER names, rows camelCase with string values. */
export const workgroupEntity: EntityDef = entity(
  "socialnetwork.api.workgroup",
  [
    field("ID", "integer", "ID", "O"),
    field("ACTIVE", "char", "Активна"),
    field("SUBJECT_ID", "integer", "Тема"),
    field("NAME", "string", "Название"),
    field("DESCRIPTION", "string", "Описание"),
    field("KEYWORDS", "string", "Ключевые слова"),
    field("CLOSED", "char", "Архивная"),
    field("VISIBLE", "char", "Видимая"),
    field("OPENED", "char", "Открытая"),
    field("PROJECT", "char", "Проект"),
    field("DATE_CREATE", "datetime", "Создана", "O"),
    field("DATE_UPDATE", "datetime", "Изменена", "O"),
    field("DATE_ACTIVITY", "datetime", "Активность", "O"),
    field("OWNER_ID", "user", "Владелец"),
    field("NUMBER_OF_MEMBERS", "integer", "Участников", "O"),
    field("SITE_ID", "string", "Сайт")
  ],
  (env, id) => {
    const r = rowRandom(env, id)
    const created = createdAt(env, id, r)
    return {
      ID: id,
      ACTIVE: "Y",
      SUBJECT_ID: 1,
      NAME: `${workgroupNames[id % workgroupNames.length]}${id > workgroupNames.length ? ` ${id}` : ""}`,
      DESCRIPTION: "",
      KEYWORDS: "",
      CLOSED: r.chance(0.1) ? "Y" : "N",
      VISIBLE: "Y",
      OPENED: r.chance(0.5) ? "Y" : "N",
      PROJECT: r.chance(0.3) ? "Y" : "N",
      DATE_CREATE: created,
      DATE_UPDATE: created + r.int(100) * DAY,
      DATE_ACTIVITY: created + r.int(200) * DAY,
      OWNER_ID: pickUser(env, r),
      NUMBER_OF_MEMBERS: r.between(1, 40),
      SITE_ID: "s1"
    }
  }
)

/** Catalog document elements (`catalog.document.element.list`): camelCase, numbers as numbers. */
export const documentElementEntity: EntityDef = entity(
  "catalog.document.element",
  [
    field("ID", "integer", "ID", "O"),
    field("DOC_ID", "integer", "Документ"),
    field("STORE_FROM", "integer", "Склад-отправитель"),
    field("STORE_TO", "integer", "Склад-получатель"),
    field("ELEMENT_ID", "integer", "Товар"),
    field("AMOUNT", "double", "Количество"),
    field("PURCHASING_PRICE", "double", "Закупочная цена"),
    field("BASE_PRICE", "double", "Цена продажи"),
    field("BASE_PRICE_EXTRA", "double", "Наценка"),
    field("BASE_PRICE_EXTRA_RATE", "integer", "Тип наценки")
  ],
  (env, id) => {
    const r = rowRandom(env, id)
    const price = r.between(10, 5000) * 10
    return {
      ID: id,
      // Elements come in documents of about ten lines, documents numbered in creation order
      DOC_ID: 1 + Math.floor(id / 10),
      STORE_FROM: r.chance(0.3) ? r.between(1, 3) : null,
      STORE_TO: r.between(1, 3),
      ELEMENT_ID: 100 + r.int(400),
      AMOUNT: r.between(1, 100),
      PURCHASING_PRICE: price,
      BASE_PRICE: Math.round(price * 1.3),
      BASE_PRICE_EXTRA: 30,
      BASE_PRICE_EXTRA_RATE: 1
    }
  }
)

/** Universal-list elements (`lists.element.add`). */
export const listElementEntity: EntityDef = entity(
  "lists.element",
  [
    field("ID", "integer", "ID", "O"),
    field("IBLOCK_TYPE_ID", "string", "Тип инфоблока"),
    field("IBLOCK_ID", "integer", "Инфоблок"),
    field("CODE", "string", "Символьный код"),
    field("NAME", "string", "Название", "R"),
    field("DATE_CREATE", "datetime", "Создан", "O"),
    field("CREATED_BY", "user", "Кем создан", "O"),
    field("FIELDS", "object", "Значения полей")
  ],
  (env, id) => {
    const r = rowRandom(env, id)
    return {
      ID: id,
      IBLOCK_TYPE_ID: "lists",
      IBLOCK_ID: 1 + r.int(3),
      CODE: `element_${id}`,
      NAME: taskTitle(r),
      DATE_CREATE: createdAt(env, id, r),
      CREATED_BY: pickUser(env, r),
      FIELDS: {}
    }
  }
)
