# Silo image (also the one-shot migrator: `migrate` argument). Build: docker build -t goalgpt-silo .
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish Silo/Silo.csproj -c Release -o /out

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /out .
ENV ASPNETCORE_URLS=http://0.0.0.0:8080
EXPOSE 8080 11111 30000
ENTRYPOINT ["dotnet", "Orleans.GoalGpt.Silo.dll"]
