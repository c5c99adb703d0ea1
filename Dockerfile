# Images of the silo (default target; also the one-shot migrator: `migrate` argument) and of the
# feed simulator (target `simulator`). Build: docker build -t goalgpt-silo .
#                                            docker build --target simulator -t goalgpt-simulator .
# .dockerignore keeps .git, .local (secrets, databases), .env, bin/obj and test results out of the context.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish Silo/Silo.csproj -c Release -o /out/silo \
 && dotnet publish Simulator/Simulator.csproj -c Release -o /out/simulator

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS simulator
WORKDIR /app
COPY --from=build /out/simulator .
# Inside a container: every address (what is reachable from outside is compose's choice). Without
# this variable the simulator listens on loopback (its local default, set in code).
ENV ASPNETCORE_URLS=http://+:8090
EXPOSE 8090
# The runtime image has no wget or curl: the executable asks its own /sim/health.
HEALTHCHECK --interval=5s --timeout=5s --retries=20 CMD ["dotnet", "/app/Orleans.GoalGpt.Simulator.dll", "healthcheck"]
# The non-root user of the .NET images (uid 1654).
USER $APP_UID
ENTRYPOINT ["dotnet", "Orleans.GoalGpt.Simulator.dll"]

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS silo
WORKDIR /app
COPY --from=build /out/silo .
# HTTP on every address inside a container; Orleans on every address once Orleans__AdvertisedHost is
# set (compose sets it). Without these the silo listens on loopback only (its local default).
ENV ASPNETCORE_URLS=http://+:8080
EXPOSE 8080 11111 30000
# The runtime image has no wget or curl: the executable asks its own /health/ready (exit 0 = ready).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=12 CMD ["dotnet", "/app/Orleans.GoalGpt.Silo.dll", "healthcheck"]
USER $APP_UID
ENTRYPOINT ["dotnet", "Orleans.GoalGpt.Silo.dll"]
