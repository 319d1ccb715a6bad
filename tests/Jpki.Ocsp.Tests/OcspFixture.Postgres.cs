using Jpki.Core.Configuration;

namespace Jpki.Ocsp.Tests;

public sealed partial class OcspFixture
{
    /// <summary>
    /// The PostgreSQL install: a database of its own on the run's server (JPKI_TEST_PG, see
    /// PostgresServer), named in the install's jpki.json, and the ceremony run into it. Made before
    /// the module loads (SoftHSM sees only the tokens that exist then); a failure is kept for the
    /// PostgreSQL tests to fail with, so the SQLite tests of the collection still run.
    /// </summary>
    private void CreatePostgresInstall()
    {
        try
        {
            var server = PostgresServer.Shared;
            server.Execute($"CREATE DATABASE {postgresDatabaseName}");
            JpkiSettings.Load(PostgresHome); // writes the defaults
            var file = Path.Combine(PostgresHome, JpkiSettings.FileName);
            var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(file))!;
            json["database"] = new Npgsql.NpgsqlConnectionStringBuilder(server.ConnectionString) { Database = postgresDatabaseName }.ToString();
            File.WriteAllText(file, json.ToJsonString());
            TestInstall.RunCeremony(PostgresHome, ConfPath, PostgresTokenLabel, ModulePath);
        }
#pragma warning disable CA1031 // Kept and rethrown by every PostgreSQL test: they fail, they are not skipped.
        catch (Exception e)
#pragma warning restore CA1031
        {
            PostgresInstallError = e;
        }
    }
}
