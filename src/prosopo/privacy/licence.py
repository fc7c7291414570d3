"""The licence policy: which model terms this process accepts.

Model weights come with their publishers' terms, and several of prosopo's
(the default detector SCRFD and recognizer ArcFace MobileFaceNet, the fused
``arcface-mbf+sface``, and the attribute heads trained on UTKFace and
FER2013) allow non-commercial research only. ``prosopo models`` lists every
model's terms. Under the policy ``"commercial"`` those models refuse to load
with a :class:`~prosopo.ModelError` naming the permissive choice
(``detector="yunet"``, ``model="sface"``); prosopo never switches models on
its own. The policy comes from, first to last:

- :func:`set_licence_policy` in Python;
- the environment variable ``PROSOPO_LICENCE`` (``commercial`` or ``any``),
  which the command line and the web service read too;
- the default, ``"any"``: every model loads.

>>> import prosopo
>>> from prosopo.privacy.licence import set_licence_policy
>>> set_licence_policy("commercial")
>>> prosopo.verify("a.jpg", "b.jpg")                            # doctest: +SKIP
ModelError: detector 'scrfd' is not licensed for commercial use ... pass detector='yunet' and model='sface'
>>> prosopo.verify("a.jpg", "b.jpg", detector="yunet", model="sface")  # doctest: +SKIP

The policy guards against loading a model by mistake; it is not legal advice,
and the terms of the data you process are yours to check.
"""

from __future__ import annotations

from ..models import LICENCE_ENV, LICENCE_POLICIES, licence_policy, set_policy

__all__ = ["LICENCE_ENV", "LICENCE_POLICIES", "licence_policy", "set_licence_policy"]


def set_licence_policy(policy: str | None) -> None:
    """Accept only models whose terms allow commercial use (``"commercial"``),
    or every model (``"any"``), in this process from now on; models already
    loaded are refused at their next use. ``None`` returns to
    ``$PROSOPO_LICENCE``. An unknown policy is a ``ParameterError``."""
    set_policy(policy)
