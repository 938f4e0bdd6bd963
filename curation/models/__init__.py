from .aggregates import AgreementCount, RowTally
from .content import Pair, Prompt, Response, Rubric, Skill
from .jobs import (
    FINISHED_STATES,
    ExportJob,
    GenerationJob,
    JobItem,
    JobState,
    LLMCall,
    PromptTemplate,
)
from .judgments import (
    Adjudication,
    Annotator,
    AutoAcceptStratum,
    JudgeConfig,
    Judgment,
    Score,
)
from .projects import Membership, Project

__all__ = [
    "FINISHED_STATES",
    "Adjudication",
    "AgreementCount",
    "Annotator",
    "AutoAcceptStratum",
    "ExportJob",
    "GenerationJob",
    "JobItem",
    "JobState",
    "JudgeConfig",
    "Judgment",
    "LLMCall",
    "Membership",
    "Pair",
    "Project",
    "Prompt",
    "PromptTemplate",
    "Response",
    "RowTally",
    "Rubric",
    "Score",
    "Skill",
]
