# The bot's image, for compose.yaml (or any container runtime): the package with PostgreSQL
# support, run as an unprivileged user; data (evidence files) in /data.
FROM python:3.12-slim
RUN useradd --system --create-home --home-dir /home/youthbot youthbot \
 && mkdir /data && chown youthbot /data
WORKDIR /app
COPY pyproject.toml README.md babel.cfg config.toml ./
COPY bot bot
COPY domain domain
COPY handlers handlers
COPY models models
COPY locales locales
COPY data data
RUN pip install --no-cache-dir '.[postgres]'
COPY deploy/config.toml /etc/youthbot/config.toml
USER youthbot
ENV YOUTHBOT_CONFIG=/etc/youthbot/config.toml PYTHONUNBUFFERED=1
EXPOSE 8443 8445 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8081/readyz', timeout=2).status != 200)"
CMD ["python", "-m", "bot", "run"]
