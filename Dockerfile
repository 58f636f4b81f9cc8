FROM python:3.11-slim
# The actors and the sim run as an unprivileged user; only pip runs as root.
RUN useradd --create-home --uid 10001 galfriday
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir . && mkdir -p /home/galfriday/state && chown galfriday /home/galfriday/state
USER galfriday
ENV GF_STATE_DIR=/home/galfriday/state
CMD ["galfriday", "--help"]
