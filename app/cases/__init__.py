"""The case domain: the transition table and everything a case goes through.

``workflow`` (the one state machine), ``submission`` (reference, token, the submit
transaction), ``checks`` (eligibility check job, overrides), ``reviews``, ``budget``,
``access`` (who may read a case), ``queries`` (list and case page), ``actionlinks`` (signed
email actions), ``exports`` and ``uploads`` (the attachment store). Never imports a blueprint
or touches ``request``.
"""
