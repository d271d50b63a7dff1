"""What pages, the API, the CSV and the webhooks read: the one read model, how a result reads (percent,
clock, verdict), timelines and history. Imports the pipeline and the data layer, nothing above."""
