"""The Social agent's inputs (served as they are as the API's request bodies) and outputs (API.md, "Social media"
and "Marketing"). Every response names the model that wrote it (``offline`` without one) and its tokens and cost.

What one field alone cannot say (a fixed text for comment_type 1, unique task ids, something in a moment) is the
agent's to refuse (``SocialRequestError``, 400): the request is well-formed JSON Schema-wise, its meaning is not."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from agents.bounds import JSON_INT, NOT_BOOL, MediaUrl, StrictInput
from agents.compliance_brand import BrandRules
from agents.social.actions import Action, PolicyOverrides, Signals
from llm.types import Lane

Count = Annotated[int, Field(ge=0, le=10**12), JSON_INT]
TaskId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Keyword = Annotated[str, StringConstraints(min_length=1, max_length=50)]
PROMPT_MAX = 5000
KEYWORDS_MAX = 20
BEAUTIFY_MAX = 10


class SocialBody(StrictInput):
    """The fields every social-media request shares."""

    platform: Literal["rednote", "douyin"] = "rednote"
    product_prompt: str = Field(default="", max_length=PROMPT_MAX, description="The brand and products this account speaks for.")
    comment_type: Annotated[Literal[0, 1], NOT_BOOL] = Field(default=0, description="0: written by the assistant; 1: the fixed text `comment_prompt`.")
    comment_prompt: str | None = Field(default=None, max_length=2000,
                                       description="comment_type 0: extra instructions for the writer; 1: the fixed text itself.")

    def fixed_text(self) -> str:
        return (self.comment_prompt or "").strip()


class PostTask(StrictInput):
    product_content: str = Field(min_length=1, max_length=PROMPT_MAX, description="The post's text.")
    likes_num: Count = 0
    replies_num: Count = 0
    favorite_num: Count = 0
    forward_num: Count = 0


class CommentRequest(SocialBody):
    task: PostTask
    policy: PolicyOverrides | None = Field(default=None, description="Tunes the action policy for this call (GET the default).")


class ReplyTask(StrictInput):
    id: TaskId
    reply_content: str = Field(min_length=1, max_length=2000, description="A comment under the brand's post.")
    file_url: MediaUrl | None = None


class ReplyRequest(SocialBody):
    task_list: list[ReplyTask] = Field(min_length=1, max_length=50, description="Ids unique: each answer carries its task's.")
    policy: PolicyOverrides | None = None


class KeywordsRequest(StrictInput):
    platform: Literal["rednote", "douyin"] = "rednote"
    product_prompt: str = Field(min_length=1, max_length=PROMPT_MAX)
    existing_keywords: list[Keyword] = Field(default=[], max_length=500)
    expecting_count: Annotated[int, Field(ge=1, le=KEYWORDS_MAX), JSON_INT]


class ChatRequest(SocialBody):
    content: str = Field(min_length=1, max_length=2000, description="The user's message.")
    chat_prompt: str | None = Field(default=None, max_length=2000, description="Instructions; the fixed text when comment_type is 1.")

    def fixed_text(self) -> str:
        return (self.chat_prompt or self.comment_prompt or "").strip()


class MomentTask(StrictInput):
    id: TaskId
    thread_id: str | None = Field(default=None, min_length=1, max_length=64,
                                  description="The customer's thread: the comment is personalised from its profile and memories.")
    moment_content: str | None = Field(default=None, max_length=2000)
    url_list: list[MediaUrl] = Field(default=[], max_length=9, description="With moment_content, at least one of them.")


class MomentsRequest(StrictInput):
    task_list: list[MomentTask] = Field(min_length=1, max_length=50, description="Ids unique: each answer carries its task's.")
    product_prompt: str = Field(default="", max_length=PROMPT_MAX)


class BeautifyRequest(StrictInput):
    action_type: Annotated[Literal[1, 2], NOT_BOOL] = Field(description="1 compress (shorter than the source), 2 expand (longer).")
    source_text: str = Field(min_length=1, max_length=PROMPT_MAX)
    result_count: Annotated[int, Field(ge=1, le=BEAUTIFY_MAX), JSON_INT] = 3
    style: str | None = Field(default=None, max_length=200)
    platform: Literal["rednote", "douyin", "moments"] = "rednote"


ReloadMethod = Literal["all", "comment", "reply", "keywords", "chat", "moments", "beautify", "plans", "analysis"]


class ReloadRequest(StrictInput):
    method: ReloadMethod = Field(description="Which task's templates to reload; every file is re-read and checked together.")


class PlanRequest(StrictInput):
    request_id: str | None = Field(default=None, min_length=1, max_length=128)
    content: str = Field(min_length=1, max_length=PROMPT_MAX, description="What the brand wants a plan for.")


class Brand(BaseModel):
    """What the service knows of the tenant: the terms of its catalog (names, aliases, categories, tags) and its own
    compliance rules."""

    tenant_id: str
    lane: Lane = Field(default="live", description="batch: model calls count against the tenant's limits apart from live traffic.")
    terms: list[str] = Field(default=[], max_length=20_000)
    products: list[str] = Field(default=[], max_length=5_000, description="Product names, for offline copy.")
    rules: BrandRules | None = Field(default=None, description="The tenant's active compliance rules, for every output check.")


class MomentCustomer(BaseModel):
    """What the service knows of a moment's author: their name and their thread's standing facts."""

    name: str | None = None
    facts: list[tuple[str, str]] = Field(default=[], max_length=50, description="(kind, text) pairs: allergy, skin_type, ...")


# ---- outputs ------------------------------------------------------------------------------------------


class Spend(BaseModel):
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


class CommentResult(Spend):
    actions: list[Action]
    message: str | None = Field(description="The comment; null when the policy decided not to comment.")
    reasons: list[str] = Field(description="Why each action was (not) taken, from the policy.")
    signals: Signals


class ReplyTaskResult(BaseModel):
    id: str
    actions: list[Action]
    message: str | None
    reasons: list[str]


class ReplyResult(Spend):
    tasks: list[ReplyTaskResult]


class KeywordsResult(Spend):
    keywords: list[str]
    count: int
    summary: str


class ChatResult(Spend):
    message: str


class MomentTaskResult(BaseModel):
    id: str
    message: str
    personalised: bool = Field(description="Whether the customer's profile or memories shaped the comment.")


class MomentsResult(Spend):
    tasks: list[MomentTaskResult]


class BeautifyResult(Spend):
    response: list[str]
    action_type: Literal[1, 2]
    source_length: int


class ReloadResult(BaseModel):
    method: ReloadMethod
    message: str
    version: str = Field(description="Fingerprint of the templates now in use.")


class PlanOption(BaseModel):
    option_id: int
    content: str


class PlanResult(Spend):
    request_id: str
    response: str
    options: list[PlanOption]
    processing_time: float = Field(description="Seconds.")


class OutreachResult(Spend):
    """A re-engagement message for one customer: a draft the brand's system sends (nothing is sent from here)."""

    thread_id: str
    message: str
    personalised: bool = Field(description="Whether the customer's profile shaped it (a service or concern they named).")
