"""What happens to a job after its result: webhooks, the finished-job email, deletion and audio
retention. Imports reading, the pipeline and the data layer, never the web layer."""
