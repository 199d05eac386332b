"""The documented bodies and parameters of the API (OpenAPI only: the ledger validates)."""

from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

from domain.commands import OPS, PAYER_RELATIONS
from domain.policy import CATEGORIES, CAUSES, CHANNELS, IDENTITIES
from domain.rules.eligibility import SCHOOL_LEVELS
from domain.rules.refund import REFUND_REASONS
from domain.rules.roster import ROSTER_SOURCES

PersonId = Annotated[str, Field(min_length=1, max_length=64, examples=["341225198001010117"],
                                description="Resident ID number, or a document number")]
Region = Annotated[str, Field(pattern=r"^[0-9]{6}$", examples=["341225"])]
Money = Annotated[str, Field(pattern=r"^[0-9]{1,11}(\.[0-9]{1,2})?$", examples=["280.00"],
                             description="Yuan, at most 2 decimals, as a string")]
Day = Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", examples=["2021-03-01"])]
At = Annotated[str, Field(min_length=10, max_length=40,
                          examples=["2021-03-01T09:30:00+08:00"],
                          description="ISO 8601 timestamp with offset, or a date (+08:00)")]
Year = Annotated[int, Field(ge=2000, le=2100)]
Text = Annotated[str, Field(min_length=1, max_length=200)]
Ref = Annotated[str, Field(min_length=1, max_length=128)]


CommandId = Annotated[str, Field(min_length=1, max_length=64, examples=["clinic-42-20210301-0007"],
                                 description="Idempotency key: a re-send under the same id "
                                             "answers with the recorded result (ADR 44)")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command_id: CommandId | None = None


class RegisterBody(_Body):
    person: PersonId
    name: Text
    region: Region
    at: At
    id_type: Literal["resident_id", "other"] | None = None
    birth_date: Day | None = None
    sex: Literal["male", "female"] | None = None
    residence_permit: bool | None = None
    hukou_region: Region | None = None
    residence_permit_region: Region | None = None
    spouse_region: Region | None = None
    school_region: Region | None = None
    school_level: Literal[SCHOOL_LEVELS] | None = None  # type: ignore[valid-type]


class ReportEmployeeInsuranceBody(_Body):
    person: PersonId
    year: Year
    at: At


class RecogniseIdentityBody(_Body):
    person: PersonId
    year: Year
    identity: Literal[IDENTITIES]  # type: ignore[valid-type]
    region: Region
    at: At
    source: Literal[ROSTER_SOURCES] | None = None  # type: ignore[valid-type]


class EnrollBody(_Body):
    person: PersonId
    year: Year
    region: Region
    at: At
    household_head: PersonId | None = None
    category: Literal[CATEGORIES] | None = None  # type: ignore[valid-type]
    identity: Literal[IDENTITIES] | None = None  # type: ignore[valid-type]
    insured_before: bool | None = None
    broken_years: Annotated[int, Field(ge=0, le=80)] | None = None
    back_paid_years: Annotated[int, Field(ge=0, le=80)] | None = None


class PayBody(_Body):
    person: PersonId
    year: Year
    amount: Money
    channel: Literal[CHANNELS]  # type: ignore[valid-type]
    payment_ref: Ref
    at: At
    payer: PersonId | None = None
    payer_relation: Literal[PAYER_RELATIONS] | None = None  # type: ignore[valid-type]


class GrantSubsidyBody(_Body):
    person: PersonId
    year: Year
    identity: Literal[IDENTITIES]  # type: ignore[valid-type]
    at: At


class RefundBody(_Body):
    person: PersonId
    year: Year
    reason: Literal[REFUND_REASONS]  # type: ignore[valid-type]
    at: At
    amount: Money | None = None
    channel: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    refund_ref: Ref | None = None


class ClaimBody(_Body):
    claim_id: Ref
    person: PersonId
    visit_date: Day
    facility_level: Annotated[int, Field(ge=0, le=3)]
    facility_region: Region
    expense: Money
    at: At
    cause: Literal[CAUSES] | None = None  # type: ignore[valid-type]
    third_party_share: Annotated[str, Field(pattern=r"^[0-9](\.[0-9]{1,4})?$")] | None = None


class ReverseClaimBody(_Body):
    claim_id: Ref
    reason: Text
    at: At


BODIES: dict[str, type[_Body]] = {
    "register": RegisterBody, "report_employee_insurance": ReportEmployeeInsuranceBody,
    "recognise_identity": RecogniseIdentityBody,
    "enroll": EnrollBody, "pay": PayBody, "grant_subsidy": GrantSubsidyBody,
    "refund": RefundBody, "claim": ClaimBody, "quote": ClaimBody,
    "reverse_claim": ReverseClaimBody,
}
if set(BODIES) != set(OPS):  # pragma: no cover - a new op needs its documented body
    raise RuntimeError("every op of the contract needs a documented body in BODIES")

SUMMARIES = {
    "register": "Register a resident",
    "report_employee_insurance": "Report that a person is in employee insurance for a year",
    "recognise_identity": "Record a hardship identity a department's roster names",
    "enroll": "Enroll a person for a benefit year",
    "pay": "Record a contribution payment",
    "grant_subsidy": "Grant a hardship identity recognised after enrollment",
    "refund": "Refund credit (or everything, for a duplicate enrollment)",
    "claim": "Settle an outpatient claim against the household pool",
    "quote": "What a claim would reimburse now; records nothing",
    "reverse_claim": "Reverse a settled claim",
}


class ErrorBody(BaseModel):
    """Every refusal: the contract's rejection, or the API's own (`unauthorized`,
    `forbidden`, `not_found`, `method_not_allowed`, …)."""

    status: Literal["rejected"]
    reason: str
    message: str
    op: str | None = None


class CommandResult(BaseModel):
    """The contract's result object for the command (without `line`)."""

    model_config = ConfigDict(extra="allow")
    op: str | None
    status: Literal["ok", "rejected"]
    reason: str | None
    message: str


def command_schema(op: str, with_op: bool) -> dict[str, Any]:
    schema = BODIES[op].model_json_schema()
    if "$defs" in schema:  # pragma: no cover - the bodies are flat
        raise RuntimeError(f"the {op} body schema must not need definitions")
    schema["title"] = f"{op} command"
    if with_op:
        schema["properties"] = {"op": {"const": op, "type": "string"}, **schema["properties"]}
        schema["required"] = ["op", *schema.get("required", [])]
    else:
        schema["properties"] = {"op": {"const": op, "type": "string",
                                       "description": "optional: the path names the op"},
                                **schema["properties"]}
    return schema


def body_doc(schema: dict[str, Any]) -> dict[str, Any]:
    """A route's JSON body and its bearer-token security, declared by hand (the command routes
    read both themselves; for /whatif it repeats what its token dependency declares)."""
    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": schema}}},
            "security": [{"HTTPBearer": []}]}


ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 403, 413, 422)}
COMMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": CommandResult, "description": "Accepted: the result object"},
    **ERRORS,
    404: {"model": CommandResult, "description": "unknown_person or unknown_claim"},
    409: {"model": CommandResult, "description": "A clash with what is recorded"},
    422: {"model": CommandResult, "description": "Rejected: the result object"},
}
QUERY_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERRORS, 404: {"model": ErrorBody}, 503: {"model": ErrorBody}}


AsOf = Annotated[str | None, Query(description="Business date YYYY-MM-DD",
                                   pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
AtPosition = Annotated[int | None, Query(ge=0, le=2**62, description="Log position")]
YearQ = Annotated[int | None, Query(ge=2000, le=2100)]
RegionQ = Annotated[str | None, Query(pattern=r"^[0-9]{1,6}$",
                                      description="Region code or prefix")]
