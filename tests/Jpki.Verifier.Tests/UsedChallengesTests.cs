using Jpki.Verifier.Store;

namespace Jpki.Verifier.Tests;

/// <summary>
/// The used-challenge ledger as several instances of a service share it: two
/// <see cref="SqlUsedChallenges"/> over one store, on SQLite and on PostgreSQL.
/// </summary>
public abstract class UsedChallengesTests<TStore>(TStore store) : IClassFixture<TStore>
    where TStore : class, IStoreFixture
{
    private static readonly DateTimeOffset Expiry = DateTimeOffset.UtcNow.AddMinutes(2);

    [Fact]
    public async Task The_first_answer_consumes_the_nonce_for_every_instance()
    {
        var connection = store.CreateStore("ledger_once");
        using var instanceA = new SqlUsedChallenges(connection);
        using var instanceB = new SqlUsedChallenges(connection);
        Assert.True(await instanceA.TryConsumeAsync("https://a.example/login", "nonce-1", Expiry));
        Assert.False(await instanceB.TryConsumeAsync("https://a.example/login", "nonce-1", Expiry));
        Assert.False(await instanceA.TryConsumeAsync("https://a.example/login", "nonce-1", Expiry));

        // Another nonce, or the same nonce of another audience, is another challenge.
        Assert.True(await instanceB.TryConsumeAsync("https://a.example/login", "nonce-2", Expiry));
        Assert.True(await instanceB.TryConsumeAsync("https://b.example/login", "nonce-1", Expiry));
    }

    [Fact]
    public async Task Of_simultaneous_answers_to_one_challenge_exactly_one_is_accepted()
    {
        var connection = store.CreateStore("ledger_race");
        var instances = Enumerable.Range(0, 4).Select(_ => new SqlUsedChallenges(connection)).ToList();
        try
        {
            var answers = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Task.Run(() => instances[i % instances.Count].TryConsumeAsync("https://a.example/login", "raced", Expiry))));
            Assert.Equal(1, answers.Count(accepted => accepted));
        }
        finally
        {
            instances.ForEach(i => i.Dispose());
        }
    }

    [Fact]
    public async Task Nonces_are_forgotten_only_after_their_challenge_expired()
    {
        var connection = store.CreateStore("ledger_purge");
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        using var ledger = new SqlUsedChallenges(connection, clock, keepAfterExpiry: TimeSpan.FromMinutes(5));
        var expiry = clock.GetUtcNow().AddMinutes(2);
        Assert.True(await ledger.TryConsumeAsync("https://a.example/login", "old", expiry));
        clock.Advance(TimeSpan.FromMinutes(6));
        Assert.False(await ledger.TryConsumeAsync("https://a.example/login", "old", expiry));
        clock.Advance(TimeSpan.FromMinutes(2));
        // Past expiry + 5 minutes the row is gone (the verifier refuses such a challenge as expired before asking).
        Assert.True(await ledger.TryConsumeAsync("https://a.example/login", "old", expiry));
    }
}

public sealed class SqliteUsedChallengesTests(SqliteStoreFixture store) : UsedChallengesTests<SqliteStoreFixture>(store);

public sealed class PostgresUsedChallengesTests(PostgresStoreFixture store) : UsedChallengesTests<PostgresStoreFixture>(store);
