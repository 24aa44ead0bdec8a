"""The report's words, one catalogue per language it is offered in (`zh-CN`, the firm's, and `en`).

Every sentence, heading, label and caption of the page and its charts is a key here; the code
that lays out the page holds no words of its own. A text is a `str.format` template: the numbers
it quotes are filled in by the caller, already formatted (`percent`), so both languages show the
same figures. `CODES` names the values the data carries as codes (tiers, channels, categories,
weekdays ...) in the reader's language; a value not listed (a department or advisor id, a root
cause typed in by a handler) is shown as it is. The CSV files keep the codes and English column
names whatever the language: they are read by programs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, get_args

Language = Literal["zh-CN", "en"]
LANGUAGES: tuple[str, ...] = get_args(Language)
# The firm's language, as for the messages clients receive (activities.messages).
DEFAULT_LANGUAGE: Language = "zh-CN"

EN: dict[str, str] = {
    # the page
    "page.title": "Client care report {period}",
    "page.period": "{start} to {end} ({zone}), end exclusive; open items judged as of {as_of}.",
    "page.no_evidence": "“–” means no evidence in the period, not zero.",
    "table.none": "none",
    "section.complaint_analysis": "Complaint analysis",
    "section.complaint_handling": "Complaint handling",
    "section.satisfaction": "Satisfaction",
    "section.callbacks": "Callbacks",
    "section.tiers": "Tiers",
    "section.appraisal": "Appraisal",
    "section.improvement_measures": "Improvement measures",
    "section.regulator_return": "Regulator return",
    "tile.csat": "CSAT",
    "tile.nps": "NPS",
    "tile.callback_completion": "Callbacks on time",
    "tile.deadline_compliance": "Decided by deadline",
    "tile.complaint_satisfaction": "Complaint handling satisfaction",
    "tile.retention": "Retention",
    "tile.aum_growth": "AUM growth",
    "tile.repeat_complaints": "Repeat complaints",
    "tile.complaints_received": "Complaints",
    "tile.firm_score": "Firm score",
    # tables (and the charts drawn from them), by dataset name
    "title.complaints_by_category": "Complaints by category",
    "title.complaints_by_cause": "Complaints by root cause",
    "title.complaints_by_channel": "Complaints by channel",
    "title.complaints_by_hour": "Complaints by local hour",
    "title.complaints_by_weekday": "Complaints by weekday",
    "title.resolution_times": "Days from receipt to decision",
    "title.deadline_compliance": "Decisions by the deadline, per department",
    "title.satisfaction_trend": "Satisfaction trend",
    "title.callbacks_by_tier": "Callback completion by tier",
    "title.callbacks_by_advisor": "Callback completion by advisor",
    "title.tier_distribution": "Clients by tier at the period's end",
    "title.tier_movements": "Tier changes in the period",
    "title.kpi_summary": "Firm KPIs",
    "title.kpi_scores": "KPIs and quantitative appraisal per scope",
    "title.improvement_measures": "Improvement measures",
    "title.regulator_return": (
        "Regulator return {period}: complaints by category, cause, channel, department"
    ),
    "title.regulator_complaints": "Complaints behind the regulator return {period}",
    # charts
    "chart.resolution_times": "{title}, against the deadline",
    "chart.appraisal_scores": "Quantitative appraisal per advisor and department",
    "chart.no_data": "no data in this period",
    "chart.deadline": "deadline {days} days",
    "chart.deadline_complex": "complex {days} days",
    "chart.days_to_decision": "days from receipt to decision",
    "chart.complaints": "complaints",
    "chart.clients": "clients",
    "chart.share_decided": "% decided by the deadline",
    "chart.share_on_time": "% done on time",
    "chart.share_satisfied": "% satisfied (4–5 of 5)",
    "chart.series_csat": "CSAT (callbacks)",
    "chart.series_complaints": "complaint handling",
    "chart.deduction_below": "deduction below",
    "chart.reward_from": "reward from",
    "chart.score_axis": "quantitative score (0–100)",
    "chart.scope": "{scope} {scope_id}",
    # captions: what the reader should notice
    "caption.share": "{part} of {whole}{unit} ({percent})",
    "caption.none": "No {what} in the period.",
    "caption.largest_tied": "Largest, tied: {groups}, {most}{unit} each of {total}{unit} {what}.",
    "caption.largest": "Largest: {group}, {share} {what}.",
    "caption.list_separator": ", ",
    "caption.busiest": "Busiest: {group}, {share} complaints.",
    "caption.hour": "{hour:02d}:00–{hour:02d}:59 local time",
    "caption.no_decisions": "No decisions in the period.",
    "caption.resolution": "{share} decisions met the deadline; the slowest took {days} days.",
    "caption.nothing_due": "Nothing was due in the period: no {what} to judge.",
    "caption.lowest_group": "{group}, {percent} ({hits} of {due})",
    "caption.firm_and_lowest": "Firm: {percent} {what}; lowest: {low}.",
    "caption.lowest": "Lowest: {low}.",
    "caption.trend_one": "{label} {percent} in {month}",
    "caption.trend": "{label} from {first} ({first_month}) to {last} ({last_month})",
    "caption.trend_separator": "; ",
    "caption.trend_end": "{parts}.",
    "caption.trend_csat": "CSAT",
    "caption.trend_complaints": "complaint handling",
    "caption.no_answers": "No satisfaction answers in the last 12 months.",
    "caption.no_moves": "No client changed tier in the period.",
    "caption.moves": "{up} client(s) moved up a tier, {down} down.",
    "caption.no_scores": "No advisor or department had evidence to score.",
    "caption.appraisal": (
        "{below} of {scored} below the deduction line ({line}); lowest: {low}, {score}."
    ),
    "unit.complaints": "",
    "unit.clients": "",
    "what.complaints": "complaints",
    "what.clients": "clients",
    "what.decided": "decided by the deadline",
    "what.on_time": "callbacks on time",
}

ZH: dict[str, str] = {
    "page.title": "客户服务报告 {period}",
    "page.period": (
        "统计期间：{start} 至 {end}（{zone}，不含结束时刻）；未结事项截至 {as_of} 判断。"
    ),
    "page.no_evidence": "“–”表示本期没有可据以计算的数据，并非零。",
    "table.none": "无",
    "section.complaint_analysis": "投诉分析",
    "section.complaint_handling": "投诉处理",
    "section.satisfaction": "满意度",
    "section.callbacks": "回访",
    "section.tiers": "客户等级",
    "section.appraisal": "考核",
    "section.improvement_measures": "整改措施",
    "section.regulator_return": "监管报送",
    "tile.csat": "客户满意度（CSAT）",
    "tile.nps": "净推荐值（NPS）",
    "tile.callback_completion": "按时回访率",
    "tile.deadline_compliance": "按期决定率",
    "tile.complaint_satisfaction": "投诉处理满意度",
    "tile.retention": "客户留存率",
    "tile.aum_growth": "资产规模（AUM）增长",
    "tile.repeat_complaints": "重复投诉率",
    "tile.complaints_received": "投诉受理量",
    "tile.firm_score": "公司得分",
    "title.complaints_by_category": "按类别的投诉",
    "title.complaints_by_cause": "按根本原因的投诉",
    "title.complaints_by_channel": "按渠道的投诉",
    "title.complaints_by_hour": "按当地时段的投诉",
    "title.complaints_by_weekday": "按星期的投诉",
    "title.resolution_times": "从受理到作出决定的天数",
    "title.deadline_compliance": "各部门按期作出决定的情况",
    "title.satisfaction_trend": "满意度趋势",
    "title.callbacks_by_tier": "各等级回访完成情况",
    "title.callbacks_by_advisor": "各顾问回访完成情况",
    "title.tier_distribution": "期末各等级客户数",
    "title.tier_movements": "本期客户等级变动",
    "title.kpi_summary": "公司关键指标",
    "title.kpi_scores": "各考核对象的关键指标与量化考核",
    "title.improvement_measures": "整改措施",
    "title.regulator_return": "监管报送 {period}：按类别、原因、渠道、部门统计的投诉",
    "title.regulator_complaints": "监管报送 {period} 所涉投诉明细",
    "chart.resolution_times": "{title}（对照处理期限）",
    "chart.appraisal_scores": "各顾问与部门的量化考核",
    "chart.no_data": "本期无数据",
    "chart.deadline": "期限 {days} 天",
    "chart.deadline_complex": "复杂投诉 {days} 天",
    "chart.days_to_decision": "从受理到决定的天数",
    "chart.complaints": "投诉（件）",
    "chart.clients": "客户（户）",
    "chart.share_decided": "按期决定（%）",
    "chart.share_on_time": "按时完成（%）",
    "chart.share_satisfied": "满意（%，5分制4–5分）",
    "chart.series_csat": "回访满意度（CSAT）",
    "chart.series_complaints": "投诉处理满意度",
    "chart.deduction_below": "扣分线",
    "chart.reward_from": "奖励线",
    "chart.score_axis": "量化得分（0–100）",
    "chart.scope": "{scope} {scope_id}",
    "caption.share": "{whole}{unit}中的 {part}{unit}（{percent}）",
    "caption.none": "本期无{what}。",
    "caption.largest_tied": "并列最多：{groups}，各 {most}{unit}，共 {total}{unit}{what}。",
    "caption.largest": "最多：{group}，占{what} {share}。",
    "caption.list_separator": "、",
    "caption.busiest": "最集中：{group}，占投诉 {share}。",
    "caption.hour": "当地时间 {hour:02d}:00–{hour:02d}:59",
    "caption.no_decisions": "本期没有作出决定的投诉。",
    "caption.resolution": "{share} 的决定在期限内作出；最慢的用了 {days} 天。",
    "caption.nothing_due": "本期没有到期事项，无从评价{what}。",
    "caption.lowest_group": "{group}，{percent}（{due} 件中的 {hits} 件）",
    "caption.firm_and_lowest": "公司整体{what} {percent}；最低：{low}。",
    "caption.lowest": "最低：{low}。",
    "caption.trend_one": "{month} {label} {percent}",
    "caption.trend": "{label}从 {first}（{first_month}）变为 {last}（{last_month}）",
    "caption.trend_separator": "；",
    "caption.trend_end": "{parts}。",
    "caption.trend_csat": "回访满意度",
    "caption.trend_complaints": "投诉处理满意度",
    "caption.no_answers": "近 12 个月没有满意度答复。",
    "caption.no_moves": "本期没有客户变动等级。",
    "caption.moves": "{up} 位客户升级，{down} 位降级。",
    "caption.no_scores": "没有顾问或部门有可据以评分的数据。",
    "caption.appraisal": (
        "{scored} 个考核对象中有 {below} 个低于扣分线（{line}）；最低：{low}，{score} 分。"
    ),
    "unit.complaints": " 件",  # measure words: 件 for complaints and decisions, 位 for people
    "unit.clients": " 位",
    "what.complaints": "投诉",
    "what.clients": "客户",
    "what.decided": "按期决定率",
    "what.on_time": "按时回访率",
}

# Column headings of the tables shown (the CSV files keep the names on the left).
EN_COLUMNS: dict[str, str] = {}
ZH_COLUMNS: dict[str, str] = {
    "category": "类别",
    "root_cause": "根本原因",
    "channel": "渠道",
    "hour": "时段",
    "weekday": "星期",
    "complaints": "投诉数",
    "complaint_id": "投诉编号",
    "department": "部门",
    "days_to_decision": "决定用时（天）",
    "met_deadline": "按期",
    "due": "到期数",
    "met": "按期数",
    "compliance": "按期率",
    "month": "月份",
    "csat_responses": "回访答复数",
    "csat_satisfied": "回访满意数",
    "csat": "客户满意度",
    "complaint_responses": "投诉答复数",
    "complaint_satisfied": "投诉满意数",
    "complaint_satisfaction": "投诉处理满意度",
    "tier": "等级",
    "advisor_id": "顾问",
    "on_time": "按时数",
    "completion": "完成率",
    "clients": "客户数",
    "from_tier": "原等级",
    "to_tier": "新等级",
    "direction": "方向",
    "metric": "指标",
    "value": "值",
    "scope": "考核对象类型",
    "scope_id": "考核对象",
    "nps": "净推荐值",
    "callback_completion": "按时回访率",
    "deadline_compliance": "按期决定率",
    "retention": "留存率",
    "aum_growth": "资产规模增长",
    "repeat_complaints": "重复投诉率",
    "quantitative_score": "量化得分",
    "coverage": "指标覆盖率",
    "band": "档次",
    "measure_id": "措施编号",
    "cause": "原因",
    "measure": "措施",
    "owner": "负责人",
    "status": "状态",
    "done_at": "完成时间",
    "dimension": "维度",
    "received": "受理",
    "closed": "办结",
    "closed_within_15d": "15日内办结",
    "closed_within_30d": "30日内办结",
    "extended": "延期",
    "overdue": "逾期",
    "withdrawn": "撤回",
    "rated": "评价数",
    "satisfied": "满意数",
    "satisfaction_mean": "满意度均值",
    "compensated": "有补偿",
    "compensation_total": "补偿总额",
    "regulatory_category": "监管类别",
    "reportable": "须报送",
    "stage": "阶段",
    "received_at": "受理时间",
    "decided_at": "决定时间",
    "extensions": "延期次数",
    "satisfaction": "满意度",
    "compensation": "补偿金额",
}

# Values the data carries as codes, in the reader's words. English shows the codes themselves.
EN_CODES: dict[str, str] = {}
ZH_CODES: dict[str, str] = {
    # tiers
    "diamond": "钻石", "platinum": "铂金", "gold": "黄金", "regular": "普通",
    # channels
    "hotline": "热线", "email": "电子邮件", "online": "线上", "branch": "网点",
    # complaint categories
    "product_performance": "产品表现", "suitability": "适当性", "fees": "费用",
    "disclosure": "信息披露", "service_attitude": "服务态度",
    "transaction_processing": "交易处理", "privacy": "隐私",
    # root causes
    "product_design": "产品设计", "sales_practice": "销售行为", "risk_assessment": "风险评估",
    "disclosure_gap": "披露不足", "pricing_error": "定价错误", "process_gap": "流程缺陷",
    "system_failure": "系统故障", "staff_conduct": "员工行为", "third_party": "第三方",
    "market_movement": "市场波动", "data_handling": "数据处理",
    "client_misunderstanding": "客户误解", "unknown": "未查明",
    # regulatory categories and the return's dimensions
    "product_returns": "产品收益", "sales_suitability": "销售行为与适当性",
    "fees_and_charges": "收费定价", "information_disclosure": "信息披露",
    "service_quality": "服务质量", "transaction_handling": "业务办理",
    "personal_information": "个人信息保护", "other": "其他", "unclassified": "未分类",
    "all": "全部",
    # complaint stages
    "intake": "受理", "assessment": "评估", "investigation": "调查", "resolution": "决定",
    "follow_up": "回访", "closed": "已办结", "withdrawn": "已撤回",
    # weekdays (domain.analysis.WEEKDAYS)
    "Mon": "周一", "Tue": "周二", "Wed": "周三", "Thu": "周四", "Fri": "周五", "Sat": "周六",
    "Sun": "周日",
    # tier moves, measures, appraisal
    "up": "升级", "down": "降级", "open": "进行中", "done": "已完成", "overdue": "已逾期",
    "reward": "奖励", "standard": "标准", "deduction": "扣分",
    "firm": "公司", "advisor": "顾问", "department": "部门", "unassigned": "未分配",
    # the return's dimensions
    "regulatory_category": "监管类别", "root_cause": "根本原因", "channel": "渠道",
    # yes/no cells
    "True": "是", "False": "否",
}  # fmt: skip


@dataclass(frozen=True)
class Words:
    """One language's catalogue: `words("key", n=3)` a text, `words.code(v)` a value's label."""

    language: Language
    texts: Mapping[str, str]
    columns: Mapping[str, str]
    codes: Mapping[str, str]

    def __call__(self, key: str, **values: Any) -> str:
        return self.texts[key].format(**values)

    def column(self, name: str) -> str:
        # spaces for underscores, so a long column name wraps rather than widening its column
        return self.columns.get(name, name.replace("_", " "))

    def code(self, value: Any) -> str:
        return self.codes.get(str(value), str(value))

    def instant(self, at: datetime) -> str:
        if self.language == "zh-CN":
            return f"{at.year}年{at.month}月{at.day}日 {at:%H:%M}"
        return f"{at:%Y-%m-%d %H:%M}"

    def day(self, on: date) -> str:
        return f"{on.year}年{on.month}月{on.day}日" if self.language == "zh-CN" else on.isoformat()

    def local_time(self, iso: str) -> str:
        """A table's timestamp (ISO, in the firm's zone): in Chinese form, or as it is."""
        return self.instant(datetime.fromisoformat(iso)) if self.language == "zh-CN" else iso


CATALOGUES: dict[str, Words] = {
    "en": Words("en", EN, EN_COLUMNS, EN_CODES),
    "zh-CN": Words("zh-CN", ZH, ZH_COLUMNS, ZH_CODES),
}


def words(language: str) -> Words:
    """The catalogue of a language; a language the report is not offered in is a ValueError."""
    if language not in CATALOGUES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    return CATALOGUES[language]
