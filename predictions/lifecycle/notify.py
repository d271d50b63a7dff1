"""Telling a person that a long job finished: an email when they opted in on the account page (while the
job's page is open, its script can use the browser's Notification API instead: static/js/job.js).

A receiver of ``signals.job_finished`` publishes the email by name on the webhook queue (slow mail
servers never hold an analysis slot); the task sends at most once (no late acknowledgement: a lost
email is better than two)."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail

from predictions.models import AccountSettings, Job
from predictions.pipeline import dispatch
from predictions.reading import history

EMAIL_TASK = "predictions.email_job_finished"


def wants_email(job: Job) -> bool:
    """Opted in, has an address, and the job took long enough for a person to have walked away."""
    opted_in = AccountSettings.objects.filter(user=job.user, email_when_done=True).exists()
    took_s = (job.finished_at - job.created_at).total_seconds() if job.finished_at else 0.0
    return opted_in and bool(job.user.email) and took_s >= settings.NOTIFY_AFTER_S


def on_job_finished(job_id: int, **signal_kwargs: object) -> None:
    """Receives ``signals.job_finished``."""
    job = Job.objects.select_related("user").filter(pk=job_id).first()
    if job is None or not wants_email(job):
        return
    dispatch.publish_by_name(EMAIL_TASK, job_id, what=f"the finished-job email for job {job_id}")


def email_job_finished(job_id: int) -> bool:
    """Send the email (the task's body); False when the job or the address is gone."""
    job = Job.objects.select_related("user").filter(pk=job_id).first()
    if job is None or not job.user.email:
        return False
    counts = job.counts()
    name = history.display_name(job)
    failed = counts.get("failed", 0)
    outcome = f"{counts.get('done', 0)} analysed" + (f", {failed} could not be analysed" if failed else "")
    send_mail(
        f"serweb: “{name}” is finished",
        f"Hello {job.user.get_username()},\n\nyour upload “{name}” is finished: {outcome}.\n"
        f"See the results: {settings.SITE_URL.rstrip('/')}{job.get_absolute_url()}\n\n"
        "You get this email because you asked for it on your account page; untick the box there to stop.\n",
        None,
        [job.user.email],
    )
    return True
