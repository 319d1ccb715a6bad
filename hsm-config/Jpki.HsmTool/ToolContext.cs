using System.Security.Cryptography;
using System.Text;
using Jpki.Core.Configuration;
using Jpki.Core.Store;
using Jpki.Hsm;
using Microsoft.Extensions.Logging;

namespace Jpki.HsmTool;

/// <summary>
/// What every verb of the tool opens: the settings, the PKCS#11 module (once per process), the
/// store (migrated) and, on demand, the logged-in token. Disposed in reverse order.
/// </summary>
public sealed class ToolContext : IDisposable
{
    private Pkcs11Module? _module;
    private HsmToken? _token;
    private Database? _database;

    public ToolContext(JpkiSettings settings, ILoggerFactory loggers, TextWriter output, bool createsStore = false)
    {
        Settings = settings;
        Loggers = loggers;
        Output = output;
        CreatesStore = createsStore;
    }

    /// <summary>
    /// Only the key ceremony makes a store; every other verb needs the install's and fails with
    /// <see cref="StoreUnusableException"/> on a missing, empty, foreign or unreachable one.
    /// </summary>
    public bool CreatesStore { get; }

    public JpkiSettings Settings { get; }

    public ILoggerFactory Loggers { get; }

    public TextWriter Output { get; }

    public Pkcs11Module Module => _module ??= Pkcs11Module.Load(Settings.ModulePath);

    public Database Database
    {
        get
        {
            if (_database is null)
            {
                var connection = Settings.ConnectionString;
                if (!CreatesStore)
                {
                    StoreCheck.RequireInstall(Settings);
                }
                else if (Database.IsSqlite(connection))
                {
                    Directory.CreateDirectory(Settings.Home);
                }

                _database = new Database(connection, TimeProvider.System);
                // As a service's start: contracting migrations that older instances block wait for ./jpki db migrate.
                Migrator.ApplyAtStart(_database, MigrationSet.Embedded, Loggers.CreateLogger<ToolContext>());
            }

            return _database;
        }
    }

    public PinSource UserPin => PinSource.FromEnvironmentOrFile(Settings.Hsm.UserPinEnvironmentVariable, Settings.Resolve(Settings.Hsm.UserPinFile));

    public bool TokenExists => Module.TokenLabels().Contains(Settings.TokenLabel);

    public HsmToken Token => _token ??= HsmToken.Open(Module, Settings.TokenLabel, UserPin, Loggers.CreateLogger("hsm"));

    /// <summary>The HSM label of the audit-checkpoint key that signs now: after a handover, the new key's (decision 0421).</summary>
    public string CheckpointKeyLabel()
    {
        using var db = Database.OpenConnection();
        return Jpki.Core.Issuers.IssuerStore.CurrentCheckpointKey(db)?.HsmKeyLabel ?? KeyCeremony.CheckpointKeyId;
    }

    /// <summary>A signer of the audit-checkpoint key that signs now.</summary>
    public Pkcs11Signer OpenCheckpointSigner(SessionPool pool) => Pkcs11Signer.Open(pool, CheckpointKeyLabel());

    /// <summary>
    /// Writes a new random secret to a 0600 file in a 0700 directory unless the file exists;
    /// returns its bytes. Secrets only ever travel through such files or environment variables.
    /// </summary>
    public static byte[] CreateSecretFile(string path, int randomBytes = 16)
    {
        var dir = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(dir);
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        if (!File.Exists(path))
        {
            var secret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(randomBytes));
            using var stream = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
            stream.Write(Encoding.UTF8.GetBytes(secret + "\n"));
        }

        return PinSource.FromFile(path).Read();
    }

    public void Dispose()
    {
        _token?.Dispose();
        _database?.Dispose();

        // The module is finalised last, after every session of this process is closed.
        _module?.Dispose();
    }
}
