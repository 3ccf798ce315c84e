"""Email: composing and recording (``compose``) apart from SMTP delivery (``delivery``).

Every email is a ``Notification`` row written in the transaction of the change it reports,
with an outbox row for ``delivery.send_notification`` beside it; a worker delivers it after
commit. Callers say *what* to send (``Email(kind, audience)``); templates
``email/<kind>.txt`` and ``.html`` say how it reads, subject included.
"""
