"""Page labels in Chinese and English. Shown side by side by default; `?lang=zh` or
`?lang=en` keeps one (remembered in a cookie for the `/ui` pages)."""

from __future__ import annotations

from markupsafe import Markup, escape

LANGS = ("both", "zh", "en")
LANG_COOKIE = "cz_lang"

LABELS: dict[str, tuple[str, str]] = {
    "app": ("存证", "Cunzheng evidence ledger"),
    "verify": ("核验", "Verify"),
    "legal": ("法务工作台", "Legal workbench"),
    "audit": ("审计", "Audit"),
    "login": ("登录", "Log in"),
    "logout": ("退出", "Log out"),
    "api_key": ("API 密钥", "API key"),
    "login_help": (("输入由管理员发放的 API 密钥。密钥只用于登录，不会保存在 Cookie 中；"
                    "本站只在 HttpOnly Cookie 中保存一个随机会话编号。"),
                   ("Enter the API key an administrator gave you. It is checked once and "
                    "never stored in a cookie: these pages keep only a random session id "
                    "in an HttpOnly cookie.")),
    "drop": ("拖入文件：记录、文件或证据包", "Drop a file: a record, a document or a package"),
    "or_paste": ("或粘贴记录 JSON、哈希或存证编号",
                 "or paste a record (JSON), a hash or an evidence id"),
    "kind": ("类型", "Kind"), "auto": ("自动识别", "detect"),
    "record": ("记录", "record"), "document": ("文件", "document"),
    "package": ("证据包", "package"),
    "leaf_hash": ("叶哈希", "leaf hash"), "evidence_id": ("存证编号", "evidence id"),
    "expect_id": ("应为存证编号（可选）", "expected evidence id (optional)"),
    "check": ("核验", "Check"), "checks": ("核验步骤", "Checks"), "result": ("结果", "Result"),
    "status": ("状态", "Status"), "reason": ("原因", "Reason"),
    "anchored": ("已上链锚定", "anchored"),
    "logged-not-yet-anchored": ("已存证，尚未锚定", "logged, not yet anchored"),
    "unknown": ("未找到", "unknown"), "mismatch": ("不一致", "mismatch"),
    "erased": ("内容已删除", "content erased"),
    "anchor": ("锚定", "Anchor"), "chain": ("链", "chain"), "contract": ("合约", "contract"),
    "tx": ("交易", "transaction"), "block": ("区块", "block"),
    "block_time": ("出块时间", "block time"),
    "confirmations": ("确认数", "confirmations"), "cosigners": ("见证人联署", "cosigners"),
    "witness": ("见证人", "witness"), "none": ("无", "none"),
    "loans": ("贷款", "Loans"), "classification": ("五级分类", "classification"),
    "dpd": ("逾期天数", "days past due"), "overdue": ("逾期金额", "overdue amount"),
    "principal": ("本金", "principal"), "tenant": ("机构", "tenant"), "loan": ("贷款编号", "loan"),
    "events": ("事件", "events"), "as_of": ("截至", "as of"), "filter": ("筛选", "Filter"),
    "all": ("全部", "all"), "dispute_candidate": ("可诉候选", "dispute candidate"),
    "by_category": ("按五级分类", "By classification"),
    "by_dpd": ("按逾期天数", "By days past due"),
    "timeline": ("事件时间线", "Timeline of events"), "type": ("类型", "type"),
    "occurred_at": ("发生时间", "occurred"), "received_at": ("接收时间", "received"),
    "build_case": ("生成案件材料", "Build a case"), "venue": ("受理机构", "venue"),
    "build": ("生成", "Build"), "download_package": ("下载证据包", "Download package"),
    "download_pdf": ("下载案件 PDF", "Download case-file PDF"),
    "built_cases": ("已生成的证据包", "Packages built"),
    "not_available": ("暂不可用", "not available yet"),
    "log_size": ("日志规模", "Log size"), "leaves": ("叶子数", "leaves"),
    "checkpoints": ("最新检查点", "Latest checkpoints"), "root": ("根哈希", "root"),
    "signed_at": ("签名时间", "signed at"), "lag": ("锚定延迟", "Anchoring lag"),
    "witnesses": ("见证人及最近联署", "Witnesses and their last cosign"),
    "cosign_count": ("联署次数", "cosignatures"), "last_cosign": ("最近联署", "last cosign"),
    "fsck": ("自检", "Self-audit (fsck)"), "run_fsck": ("立即自检", "Run fsck now"),
    "fsck_never": ("尚未运行", "not run yet"), "ok": ("通过", "ok"), "failed": ("失败", "failed"),
    "findings": ("问题", "findings"),
    "loan_findings": ("已存证但与其他记录不一致的事件",
                      "Findings: recorded events that do not fit the loan"),
    "no_loan_findings": ("无", "none: every recorded event fits the loan"),
    "open": ("未解决", "open"), "resolved_by": ("由后到事件解决", "resolved by a later arrival"),
    "found_by": ("发现于", "found on arrival of"), "code": ("代码", "code"),
    "ran_at": ("运行时间", "ran at"), "by": ("操作人", "by"),
    "forbidden": ("无权访问", "Not allowed"), "tree_size": ("树大小", "tree size"),
    "size": ("大小", "size"), "no_data": ("暂无数据", "no data yet"),
    "pending": ("待锚定", "pending"), "created_at": ("创建时间", "created"),
    "items": ("证据项", "items"), "documents": ("附件", "documents"),
    # the loan's history and its proof (issue 13): the workbench's proof columns, the loan page
    "completeness": ("记录完整性", "History completeness"),
    "record_count": ("记录数", "records"), "last_record": ("最后一条记录", "last record"),
    "proof_status": ("证明状态", "proof status"), "checkpoint": ("检查点", "checkpoint"),
    "index_root": ("贷款索引根", "loan index root"), "loan_seq": ("序号", "seq"),
    "erased_by": ("删除事件", "erased by"), "problems": ("不一致之处", "divergences"),
    "complete": ("完整", "complete"),
    "unproved-prefix": ("部分可证明", "partly provable"),
    "divergent": ("不一致！", "divergence!"),
    "no-records": ("检查点内无记录", "no record at this checkpoint"),
    "no-index": ("尚无贷款索引", "no loan index yet"),
    "not-checked": ("本页未检查", "not checked on this page"),
    "newest-anchored": ("最新已锚定检查点", "the newest anchored checkpoint"),
    "newest-signed": ("最新已签名检查点（尚无已锚定的）",
                      "the newest signed checkpoint (none anchored yet)"),
    "requested": ("指定检查点", "the checkpoint asked for"),
    "completeness_json": ("完整性证明（JSON）", "completeness proof (JSON)"),
    "completeness_at": ("完整性截至检查点", "Completeness at checkpoint"),
    "completeness_help": (("记录数与最后一条记录取自该检查点签名的贷款索引；“完整”表示服务器已核对"
                           "贷款的记录链、索引证明与签名根一致。"),
                          ("The count and the last record are the signed loan index's at that "
                           "checkpoint; 'complete' means the server checked the loan's chain, "
                           "its index proof and the signed root agree.")),
}

# labels with a number in them: `{n}`
LABELS_N: dict[str, tuple[str, str]] = {
    "not_provable_before": ("第{n}条之前无法证明（v1 或已删除记录）",
                            "not provable before seq {n} (v1 or erased record)"),
    "proof_limit": ("本页最多核验 {n} 笔贷款，其余请打开贷款页面查看",
                    "this page checks at most {n} loans; open a loan to check the rest"),
}


def _spans(zh: str, en: str, lang: str) -> Markup:
    if lang == "zh":
        return Markup('<span lang="zh">{}</span>').format(zh)
    if lang == "en":
        return Markup('<span lang="en">{}</span>').format(en)
    return Markup('<span lang="zh">{}</span> <span lang="en" class="en">{}</span>').format(
        zh, en)


def label(key: str, lang: str = "both") -> Markup:
    zh, en = LABELS.get(key, (key, key))
    return _spans(zh, en, lang)


def label_n(key: str, n: int, lang: str = "both") -> Markup:
    """A `LABELS_N` label with its number."""
    zh, en = LABELS_N.get(key, (key, key))
    return _spans(zh.format(n=n), en.format(n=n), lang)


def text(key: str, lang: str = "both") -> str:
    """The label as plain text (for attributes and titles)."""
    zh, en = LABELS.get(key, (key, key))
    return zh if lang == "zh" else en if lang == "en" else f"{zh} · {en}"


__all__ = ["LABELS", "LABELS_N", "LANGS", "LANG_COOKIE", "escape", "label", "label_n",
           "text"]
