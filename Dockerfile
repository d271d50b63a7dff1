# serweb web/worker/beat image: one image, the command picks the role (see docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    TF_CPP_MIN_LOG_LEVEL=2

# libsndfile decodes WAV/FLAC/OGG/MP3; ffmpeg is audioread's fallback for odd MP3s; curl for healthchecks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libsndfile1 ffmpeg curl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt requirements-encoder.txt ./
RUN pip install -r requirements.txt \
    && pip install --no-deps --require-hashes -r requirements-encoder.txt

COPY . .
# collectstatic needs settings that import cleanly without production secrets.
RUN DEBUG=0 SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost python manage.py collectstatic --noinput

RUN useradd --system --uid 1000 --home /app serweb && mkdir -p /data && chown serweb /data
USER serweb

EXPOSE 8000
# Threaded workers and their settings: gunicorn.conf.py.
CMD ["gunicorn", "-c", "gunicorn.conf.py", "serweb.wsgi"]
