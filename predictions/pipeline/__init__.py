"""From upload to result: judging and storing uploads, the daily allowance, where recordings live,
publishing (the database as outbox), claiming and analysing files, the model registry and the workers'
counters. Imports only the data layer (``predictions.models``, ``predictions.signals``) and ``mlcore``."""
