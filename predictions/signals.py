"""Events the data layer announces without knowing who listens (receivers are connected in ``apps.ready``).

``job_finished`` is sent once a job's last file has finished, after the transaction that finished it
commits, with ``job_id``: the webhooks listen, so the models never import the code that calls out.
"""

from __future__ import annotations

from django.dispatch import Signal

job_finished = Signal()
