using Jpki.Ca.Access;
using Jpki.Core.Audit;

namespace Jpki.Ca.Tests;

/// <summary>The rate of access.denied records per account (a fake clock and a list for the chain: pure logic).</summary>
public sealed class AccessDeniedAuditTests
{
    [Fact]
    public void A_flood_is_five_records_then_one_summary_with_the_rest_per_minute_and_each_account_counts_alone()
    {
        var clock = new ManualClock(DateTimeOffset.Parse("2026-12-06T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var records = new List<AuditRecord>();
        var audit = new AccessDeniedAudit(clock, records.Add);
        for (var i = 0; i < 1000; i++)
        {
            audit.Record("mallory", "GET", "/api/v1/verifiers", "the operator role may not do this");
        }

        audit.Record("alice", "POST", "/api/v1/accounts", "the operator role may not do this");
        Assert.Equal(AccessDeniedAudit.RecordsPerMinute + 1, records.Count);
        Assert.Equal(0, audit.FlushEndedWindows());

        clock.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal(1, audit.FlushEndedWindows());
        var summary = Assert.Single(records, r => r.Action == "access.denied.summary");
        Assert.Equal("mallory", summary.Actor);
        Assert.Equal(1000 - AccessDeniedAudit.RecordsPerMinute, summary.Details["refusedNotRecorded"]!.GetValue<long>());

        // A new minute starts a new window: recorded again one by one.
        audit.Record("mallory", "GET", "/api/v1/verifiers", "again");
        Assert.Equal("access.denied", records[^1].Action);
        Assert.Equal(AccessDeniedAudit.RecordsPerMinute + 3, records.Count);
    }
}
