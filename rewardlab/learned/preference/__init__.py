"""Rewards learned from pairwise preferences: Bradley–Terry ensembles, B-Pref teachers, human labelling."""

from rewardlab.learned.preference.bradley_terry import (
    bradley_terry_loss,
    preference_accuracy,
    preference_probability,
    segment_returns,
)
from rewardlab.learned.preference.model import PreferenceModel
from rewardlab.learned.preference.queries import SELECTIONS, select_queries
from rewardlab.learned.preference.segments import SegmentSampler
from rewardlab.learned.preference.store import LabelStore
from rewardlab.learned.preference.teachers import HumanTeacher, OracleTeacher, Queries, Teacher, make_teacher
from rewardlab.learned.preference.term import PreferenceReward

__all__ = [
    "SELECTIONS",
    "HumanTeacher",
    "LabelStore",
    "OracleTeacher",
    "PreferenceModel",
    "PreferenceReward",
    "Queries",
    "SegmentSampler",
    "Teacher",
    "bradley_terry_loss",
    "make_teacher",
    "preference_accuracy",
    "preference_probability",
    "segment_returns",
    "select_queries",
]
