# Stand-in for Mailpit: SMTP on 1025 taking every message, and on 8025 a page listing them,
# the /api/v1/messages summary and /readyz.
FROM agora-standin/base:bookworm
COPY mailpit.py /usr/local/bin/mailpit.py
EXPOSE 1025 8025
HEALTHCHECK --interval=5s --timeout=3s CMD ["wget", "-qO-", "http://127.0.0.1:8025/readyz"]
ENTRYPOINT ["python3", "/usr/local/bin/mailpit.py"]
