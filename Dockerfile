# Images of the silo (default target; also the one-shot migrator: `migrate` argument) and of the
# feed simulator (target `simulator`). Build: docker build -t goalgpt-silo .
#                                            docker build --target simulator -t goalgpt-simulator .
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish Silo/Silo.csproj -c Release -o /out/silo \
 && dotnet publish Simulator/Simulator.csproj -c Release -o /out/simulator

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS simulator
WORKDIR /app
COPY --from=build /out/simulator .
ENV ASPNETCORE_URLS=http://0.0.0.0:8090
EXPOSE 8090
ENTRYPOINT ["dotnet", "Orleans.GoalGpt.Simulator.dll"]

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS silo
WORKDIR /app
COPY --from=build /out/silo .
ENV ASPNETCORE_URLS=http://0.0.0.0:8080
EXPOSE 8080 11111 30000
ENTRYPOINT ["dotnet", "Orleans.GoalGpt.Silo.dll"]
