# hotfix-bot: a small, non-root image. Build: docker build -t hotfix-bot .
# The build stage builds the dependencies' wheels; the final stage has no compilers,
# no pip cache and no build tools, only the runtime, git (for hotfix branches) and the bot.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot bot
COPY handlers handlers
COPY services services
RUN pip wheel --no-cache-dir --wheel-dir /wheels . && rm /wheels/hotfix_bot-*.whl

FROM python:3.11-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --create-home --home-dir /home/hotfix hotfix
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-compile /wheels/* && rm -rf /wheels
# The bot runs from its source tree so that templates/ sits next to the code.
WORKDIR /app
COPY bot bot
COPY handlers handlers
COPY services services
COPY templates templates
COPY hotfix.example.yml manifest.yml ./
USER 10001
ENV PYTHONPATH=/app PYTHONUNBUFFERED=1 HOTFIX_CONFIG=/etc/hotfix/hotfix.yml
EXPOSE 3000 8080
ENTRYPOINT ["python", "-m", "bot"]
CMD ["serve"]
