namespace Jpki.Core.Store;

/// <summary>Why a schema change or a start was refused.</summary>
public enum SchemaRefusal
{
    /// <summary>A contracting migration is pending and instances whose code predates it are connected.</summary>
    ContractBlocked,

    /// <summary>The store carries a contracting migration newer than this code: the code may use what it removed.</summary>
    CodeTooOld,
}

/// <summary>
/// A migration or a start refused so that no running code meets a schema it was not written for
/// (docs/decisions/0530). The message is one line naming the migration and the instances;
/// <see cref="RefusedExitCode"/> is what the migrator verb and the services end with.
/// </summary>
public sealed class SchemaUpgradeRefusedException : Exception
{
    /// <summary>Exit code of every program refused this way (docs/cli.md).</summary>
    public const int RefusedExitCode = 7;

    public SchemaUpgradeRefusedException(SchemaRefusal refusal, MigrationScript migration, IReadOnlyList<StoreClient> blockers, string message)
        : base(message)
    {
        Refusal = refusal;
        Migration = migration;
        Blockers = blockers;
    }

    public SchemaRefusal Refusal { get; }

    /// <summary>The contracting migration refused, or the applied one this code does not know.</summary>
    public MigrationScript Migration { get; }

    /// <summary>The connected instances of older code (empty for <see cref="SchemaRefusal.CodeTooOld"/>).</summary>
    public IReadOnlyList<StoreClient> Blockers { get; }
}
