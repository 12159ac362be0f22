"""One valid example payload per event type, telling one loan's story from decision to close.

Used in the OpenAPI documentation and as test fixtures: each must pass its schema, and
`example_story()` (the examples in order, plus a final recovery) must rebuild into a
consistent loan state.
"""

from __future__ import annotations

import copy
from typing import Any

LENDER_CODE = "91500000202869177Y"  # 重庆银行股份有限公司
BORROWER_CODE = "91500103MA5U7N4Q02"  # a made-up small business in 渝中区; check digit valid
GUARANTOR_CODE = "91500105MA60XKP23J"  # a made-up guarantee company; check digit valid

_EXAMPLES: dict[str, dict[str, Any]] = {
    "credit_decision": {
        "decision_id": "CD-2024-000123",
        "outcome": "approved",
        "product_code": "HQ_TAX_CREDIT",
        "applicant_credit_code": BORROWER_CODE,
        "score": 712,
        "policy_version": "tax-credit-policy-2024.02",
        "model_version": "scorecard-v7",
        "limit": "500000.00",
        "decided_at": "2024-03-01T10:15:00+08:00",
        "valid_until": "2024-05-31",
        "source": {"system": "credit-decision-engine", "refs": {"application_id": "APP-88412"}},
    },
    "contract_signed": {
        "contract_no": "CQB-HQSX-2024-0001234",
        "decision_id": "CD-2024-000123",
        "product_code": "HQ_TAX_CREDIT",
        "parties": [
            {
                "role": "lender",
                "kind": "organization",
                "name": "重庆银行股份有限公司",
                "credit_code": LENDER_CODE,
            },
            {
                "role": "borrower",
                "kind": "organization",
                "name": "重庆某某商贸有限公司",
                "credit_code": BORROWER_CODE,
            },
        ],
        "amount": "300000.00",
        "term_months": 12,
        "annual_rate": "0.0435",
        "repayment_method": "equal_installment",
        "first_due_date": "2024-04-20",
        "due_day": 20,
        "penalty": {"markup": "0.5", "clause_no": "8.2"},
        "compound_interest": {"allowed": True, "clause_no": "8.3"},
        "dispute_resolution": {
            "venue": "notary",
            "institution": "重庆市渝中公证处",
            "clause_no": "15.1",
        },
        "service_address": {
            "address": "重庆市渝中区某某路1号",
            "channels": [
                {"channel": "sms", "address": "+86-138-0000-0000"},
                {"channel": "ems", "address": "重庆市渝中区某某路1号"},
            ],
            "clause_no": "16.1",
        },
        "e_signature": {
            "certificate_serial": "CFCA-4E2A9B7C01",
            "signed_at": "2024-03-02T14:03:11+08:00",
            "identity_check_refs": ["FACE-7731", "SMS-1182"],
        },
        "source": {"system": "core-banking", "refs": {"contract_id": "K20240302001"}},
    },
    "security": {
        "security_id": "SEC-2024-0042",
        "kind": "guarantee",
        "contract_no": "CQB-BZ-2024-0042",
        "provider": {
            "role": "guarantor",
            "kind": "organization",
            "name": "重庆某某融资担保有限公司",
            "credit_code": GUARANTOR_CODE,
        },
        "secured_amount": "300000.00",
        "liability": "joint_and_several",
        "signed_at": "2024-03-02T15:00:00+08:00",
        "source": {"system": "core-banking", "refs": {"guarantee_id": "G20240302007"}},
    },
    "disbursement": {
        "receipt_no": "JJ-2024-0001234-01",
        "amount": "300000.00",
        "account": "6217****1234",
        "clearing_ref": "CNAPS-20240305-000981",
        "value_date": "2024-03-05",
        "source": {"system": "core-banking", "refs": {"txn_id": "T202403050001"}},
    },
    "repayment_received": {
        "amount": "25600.12",
        "value_date": "2024-04-20",
        "clearing_ref": "CNAPS-20240420-004411",
        "receipt_no": "JJ-2024-0001234-01",
        "allocation": {
            "costs": "0.00",
            "penalty": "0.00",
            "interest": "1631.25",
            "principal": "23968.87",
        },
        "installment_nos": [1],
        "source": {"system": "core-banking", "refs": {"txn_id": "T202404200117"}},
    },
    "repayment_missed": {
        "due_date": "2024-05-20",
        "installment_no": 2,
        "amount_due": "25600.12",
        "principal_due": "24055.75",
        "interest_due": "1544.37",
        "source": {"system": "core-banking", "refs": {"schedule_id": "S-0001234-02"}},
    },
    "notice_sent": {
        "notice_id": "N-2024-000777",
        "kind": "demand",
        "channel": "ems",
        "recipient_role": "borrower",
        "address": "重庆市渝中区某某路1号",
        "sent_at": "2024-05-25T09:00:00+08:00",
        "amount_demanded": "25600.12",
        "clause_no": "16.1",
        "source": {"system": "collections", "refs": {"letter_id": "L-55120"}},
    },
    "notice_delivered": {
        "notice_id": "N-2024-000777",
        "channel": "ems",
        "delivered_at": "2024-05-27T11:20:00+08:00",
        "receipt_ref": "EMS-1185544332211",
        "source": {"system": "collections", "refs": {"tracking_no": "1185544332211"}},
    },
    "acceleration": {
        "accelerated_on": "2024-07-01",
        "clause_no": "9.1",
        "amount_declared_due": "280000.00",
        "breakdown": {
            "principal": "276031.13",
            "interest": "3000.00",
            "penalty": "968.87",
            "costs": "0.00",
        },
        "reason": "two consecutive installments missed",
        "notice_id": "N-2024-000777",
        "source": {"system": "collections", "refs": {"case_id": "C-2024-0091"}},
    },
    "restructuring": {
        "agreement_no": "CQB-CZ-2024-0007",
        "effective_date": "2024-07-15",
        "principal": "276031.13",
        "term_months": 24,
        "annual_rate": "0.0400",
        "repayment_method": "equal_principal",
        "first_due_date": "2024-08-20",
        "clause_no": "3",
        "e_signature": {
            "certificate_serial": "CFCA-4E2A9B7C99",
            "signed_at": "2024-07-15T10:00:00+08:00",
            "identity_check_refs": ["FACE-9001"],
        },
        "source": {"system": "core-banking", "refs": {"agreement_id": "R20240715001"}},
    },
    "settlement": {
        "settled_on": "2026-07-20",
        "reason": "waiver",
        "waiver": {
            "principal": "1000.00",
            "interest": "200.00",
            "penalty": "968.87",
            "approval_ref": "APPR-2026-0033",
        },
        "source": {"system": "core-banking", "refs": {"closing_id": "CL-0001234"}},
    },
    "monitoring_flag": {
        "as_of": "2024-06-20",
        "classification": "关注",
        "previous_classification": "正常",
        "days_past_due": 31,
        "overdue_amount": "25600.12",
        "warnings": [
            {
                "kind": "missed_payment",
                "installment_no": 2,
                "due_date": "2024-05-20",
                "detail": "第2期应还25600.12，未还，逾期31天",
            }
        ],
        "dispute_candidate": False,
        "dispute_reasons": [],
        "rules_version": "yinjianfa-2007-54",
        "source": {"system": "post-loan-monitoring", "refs": {"run_id": "MON-20240620"}},
    },
    # Adjustments (lending_core.events.adjustments), on the example loan of the story above.
    "fee_charged": {"fee_id": "FEE-2024-0001", "kind": "notice_fee", "amount": "30.00",
                    "charged_on": "2024-05-27", "description": "EMS催收函邮寄费",
                    "clause_no": "12.1",
                    "source": {"system": "core-banking", "refs": {"txn_id": "T202405270301"}}},
    "prepayment": {"kind": "partial", "amount": "50639.39", "value_date": "2024-06-10",
                   "clearing_ref": "CNAPS-20240610-000321", "principal": "50000.00",
                   "interest": "639.39", "fee": "0.00", "rule": "shorten_term",
                   "source": {"system": "core-banking", "refs": {"txn_id": "T202406100042"}}},
    "extension": {"agreement_no": "CQB-ZQ-2025-0003", "effective_date": "2025-03-20",
                  "original_maturity": "2025-03-20", "new_maturity": "2025-09-20",
                  "principal": "25508.02", "first_due_date": "2025-04-20", "clause_no": "2",
                  "e_signature": {"certificate_serial": "CFCA-4E2A9B7CA0",
                                  "signed_at": "2025-03-18T10:00:00+08:00",
                                  "identity_check_refs": ["FACE-9102"]},
                  "source": {"system": "core-banking",
                             "refs": {"agreement_id": "E20250318001"}}},
    "reversal": {"original_event_id": "LN-0001234:005",
                 "original_evidence_id": "cunzheng.example/log#41",
                 "original_type": "repayment_received", "amount": "25600.12",
                 "reversed_on": "2024-04-22", "reason": "付款行退汇（账户冻结）",
                 "clearing_ref": "CNAPS-20240422-000117",
                 "source": {"system": "core-banking", "refs": {"txn_id": "T202404220009"}}},
    "correction": {"original_event_id": "LN-0001234:005", "original_type": "repayment_received",
                   "corrected": {"value_date": "2024-04-19"}, "corrected_on": "2024-04-30",
                   "reason_code": "wrong_value_date",
                   "reason": "柜面入账起息日录入错误，实际到账2024-04-19",
                   "approval_ref": "TZ-2024-0088",
                   "source": {"system": "core-banking",
                              "refs": {"adjustment_id": "ADJ-20240430-07"}}},
    # Floating rate (lending_core.events.pricing): the example contract priced as 1-year LPR
    # 3.45 % (published 2024-02-20) + 90 bp = 4.35 %, repriced each 1 January
    # (`example_floating_contract`); on 2025-01-01 the LPR in force is 3.10 % (2024-12-20).
    "repricing": {
        "contract_no": "CQB-HQSX-2024-0001234",
        "effective_date": "2025-01-01",
        "tenor": "1y",
        "lpr": "0.0310",
        "lpr_date": "2024-12-20",
        "spread_bp": 90,
        "new_rate": "0.0400",
        "previous_rate": "0.0435",
        "clause_no": "4.2",
        "source": {"system": "core-banking", "refs": {"repricing_id": "RP-20250101-0001234"}},
    },
    "write_off": {
        "written_off_on": "2025-12-31",
        "principal": "276031.13",
        "interest": "5200.00",
        "approval_ref": "HX-2025-0012",
        "source": {"system": "core-banking", "refs": {"writeoff_batch": "WB-2025-12"}},
    },
}


FLOATING_PRICING: dict[str, Any] = {
    "kind": "lpr",
    "tenor": "1y",
    "base_lpr": "0.0345",
    "lpr_date": "2024-02-20",
    "spread_bp": 90,
    "repricing": "january_1",
    "clause_no": "4.2",
}
"""The pricing block that makes the example contract a floating-rate one (LPR + 90 bp)."""


def example_floating_contract() -> dict[str, Any]:
    """The example `contract_signed` payload with `FLOATING_PRICING` (a fresh deep copy)."""
    contract = copy.deepcopy(_EXAMPLES["contract_signed"])
    contract["pricing"] = copy.deepcopy(FLOATING_PRICING)
    return contract


def example_payload(event_type: str) -> dict[str, Any]:
    """A fresh, valid example payload for `event_type` (a deep copy: safe to mutate)."""
    from lending_core.events.registry import EVENT_TYPES, unknown_event_type

    if event_type not in EVENT_TYPES:
        raise unknown_event_type(event_type)
    return copy.deepcopy(_EXAMPLES[event_type])


_RECOVERY: dict[str, Any] = {
    "amount": "280000.00",
    "value_date": "2026-07-20",
    "clearing_ref": "CNAPS-20260720-000017",
    "payer": "guarantor",
    "allocation": {
        "costs": "0.00",
        "penalty": "968.87",
        "interest": "4000.00",
        "principal": "275031.13",
    },
    "source": {"system": "core-banking", "refs": {"txn_id": "T202607200003"}},
}

STORY_ORDER = (
    "credit_decision",
    "contract_signed",
    "security",
    "disbursement",
    "repayment_received",
    "repayment_missed",
    "notice_sent",
    "notice_delivered",
    "acceleration",
    "restructuring",
    "write_off",
)


def example_story() -> list[tuple[str, dict[str, Any]]]:
    """Every example in a possible order, then a guarantor's recovery and the settlement."""
    story = [(t, copy.deepcopy(_EXAMPLES[t])) for t in STORY_ORDER]
    story.append(("repayment_received", copy.deepcopy(_RECOVERY)))
    story.append(("settlement", copy.deepcopy(_EXAMPLES["settlement"])))
    return story


def example_types() -> frozenset[str]:
    """The event types that have an example (all of them; a test checks)."""
    return frozenset(_EXAMPLES)
