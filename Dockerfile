# syntax=docker/dockerfile:1
# Hoop on the ASP.NET Core runtime image (Ubuntu 24.04; .NET 10 ships no Debian images).
#   docker build -t hoop .
#   docker run -p 7443:7443 -p 8443:8443 -v hoop-data:/data -e HOOP_ADMIN_PASSWORD=... hoop

FROM mcr.microsoft.com/dotnet/sdk:10.0-noble AS build
ARG RID=linux-x64
WORKDIR /src
# Restore first, from the project files alone, so source edits do not invalidate the package layer.
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig appsettings.json Hoop.sln ./
COPY Hoop.Data/Hoop.Data.csproj Hoop.Data/
COPY Hoop.Proxy/Hoop.Proxy.csproj Hoop.Proxy/
COPY Hoop.Admin/Hoop.Admin.csproj Hoop.Admin/
RUN dotnet restore Hoop.Admin/Hoop.Admin.csproj -r $RID
COPY Hoop.Data/ Hoop.Data/
COPY Hoop.Proxy/ Hoop.Proxy/
COPY Hoop.Admin/ Hoop.Admin/
# Framework-dependent; the runtime identifier is for the ReadyToRun code compiled ahead of time.
RUN dotnet publish Hoop.Admin/Hoop.Admin.csproj -c Release -r $RID --self-contained false --no-restore -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0-noble
RUN groupadd --system --gid 10001 hoop \
 && useradd --system --uid 10001 --gid hoop --home-dir /data --no-create-home hoop \
 && mkdir -p /data && chown hoop:hoop /data && chmod 700 /data
WORKDIR /app
COPY --from=build --chown=root:root /app ./
ENV Hoop__DataFolder=/data \
    Hoop__BindAddress=0.0.0.0
VOLUME ["/data"]
# console, HTTP proxy, Postgres proxy, ACME http-01
EXPOSE 7443 8443 15432 8080
USER hoop
HEALTHCHECK --interval=30s --timeout=6s --start-period=20s --retries=3 CMD ["/app/Hoop.Admin", "healthcheck"]
ENTRYPOINT ["/app/Hoop.Admin"]
