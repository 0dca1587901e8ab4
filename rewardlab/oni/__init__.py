"""ONI: intrinsic rewards distilled online from LLM feedback on NetHack / MiniHack messages.

Zheng et al. 2024, "Online Intrinsic Rewards for Decision Making Agents from Large Language
Model Feedback". New messages go, in the background, to an annotator (:class:`LLMAnnotator`
on any OpenAI-compatible server, or :class:`RuleAnnotator` offline); labels live in a SQLite
:class:`LabelStore`; a reward model (retrieval, classification, ranking) is distilled from them
while the policy trains; the term pays ``r_llm(m) / N_e(m)^β``::

    import rewardlab as rl
    reward = rl.extrinsic() + 0.1 * rl.oni.oni(model="classification", annotator={"kind": "rules"})
"""

from rewardlab.oni import terms_config  # noqa: F401  (registers 'oni' for YAML)
from rewardlab.oni.annotators import Annotator, Answer, LLMAnnotator, RuleAnnotator, make_annotator
from rewardlab.oni.messages import GOALS, decode, message_hash
from rewardlab.oni.models import ClassificationModel, RankingModel, RetrievalModel, make_model
from rewardlab.oni.service import AnnotationService
from rewardlab.oni.store import Label, LabelStore, Query
from rewardlab.oni.term import ONITerm, oni

__all__ = [
    "GOALS",
    "AnnotationService",
    "Annotator",
    "Answer",
    "ClassificationModel",
    "LLMAnnotator",
    "Label",
    "LabelStore",
    "ONITerm",
    "Query",
    "RankingModel",
    "RetrievalModel",
    "RuleAnnotator",
    "decode",
    "make_annotator",
    "make_model",
    "message_hash",
    "oni",
]
