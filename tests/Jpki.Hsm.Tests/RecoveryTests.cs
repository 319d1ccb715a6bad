using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Net.Pkcs11Interop.Common;

namespace Jpki.Hsm.Tests;

/// <summary>
/// The module brought back in place (C_Finalize, C_Initialize, log in again) after it lost its
/// token, on the fixture's real SoftHSM store. Every wait is a bounded loop.
/// </summary>
[Collection(SoftHsmTests.Name)]
public sealed class RecoveryTests(SoftHsmFixture hsm)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public void Token_store_moved_away_and_back_is_recovered_by_reinitialising_the_module()
    {
        var (label, pinFile) = hsm.NewToken("moved");
        using var token = HsmToken.Open(hsm.Module, label, PinSource.FromFile(pinFile));
        token.GenerateKeyPair(KeyKind.EcP256, "k");
        token.GenerateHmacKey("mac");
        using var pool = token.CreatePool("moved", 2, HsmRetryPolicy.Default with { FirstDelay = TimeSpan.FromMilliseconds(5), MaxDelay = TimeSpan.FromMilliseconds(20) });
        using var signer = Pkcs11Signer.Open(pool, "k");
        using var hmac = Pkcs11Hmac.Open(pool, "mac");
        var macBefore = hmac.Compute("12345678901"u8);
        Verify(signer, "before");
        var generationBefore = hsm.Module.Generation;
        var reinitialisedBefore = hsm.Module.Recovery.Reinitialisations;
        DrainEvents();

        var away = hsm.TokenDir + ".away";
        Directory.Move(hsm.TokenDir, away);
        try
        {
            // SoftHSM notices at the next operation that touches the store; bounded.
            var failure = SignUntilFailure(signer);
            Assert.IsType<HsmTokenUnavailableException>(failure);
            Assert.Equal(HsmHealthStatus.Unavailable, pool.Health.Status);
            Assert.NotEqual(HsmModuleState.Ok, hsm.Module.Recovery.Status.State);
            Assert.NotNull(hsm.Module.Recovery.Status.Reason);
            Assert.Throws<HsmTokenUnavailableException>(() => hmac.Compute("12345678901"u8));
        }
        finally
        {
            Directory.Move(away, hsm.TokenDir);
        }

        // Same module, token, pool, signer: the watch loop's call brings them back.
        var clock = Stopwatch.StartNew();
        while (hsm.Module.Recovery.RecoverIfDue().State != HsmModuleState.Ok && clock.Elapsed < Patience)
        {
            Thread.Sleep(50);
        }

        Assert.Equal(HsmModuleState.Ok, hsm.Module.Recovery.Status.State);
        Assert.True(hsm.Module.Generation > generationBefore);
        Assert.True(hsm.Module.Recovery.Reinitialisations > reinitialisedBefore);
        Assert.Equal(HsmHealthStatus.Healthy, pool.Health.Status);
        Verify(signer, "after");
        Assert.Equal(macBefore, hmac.Compute("12345678901"u8));
        var events = DrainEvents();
        Assert.Equal(HsmModuleState.Lost, events.First().State);
        Assert.Equal(HsmModuleState.Ok, events.Last().State);
    }

    [Fact]
    public async Task Sessions_closed_under_a_busy_pool_are_replaced_without_failures_or_reinitialisation()
    {
        var (label, pinFile) = hsm.NewToken("busy");
        using var token = HsmToken.Open(hsm.Module, label, PinSource.FromFile(pinFile));
        token.GenerateKeyPair(KeyKind.EcP256, "k");
        using var pool = token.CreatePool("busy", 3);
        using var signer = Pkcs11Signer.Open(pool, "k");
        var reinitialisedBefore = hsm.Module.Recovery.Reinitialisations;
        var signed = 0;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();

        // SoftHSM frees a session that C_CloseAllSessions closes even while another thread signs
        // on it (the test host crashes), so the signers pause at a gate for each close: the
        // sessions are closed under the pool between its operations, as a token reset does.
        using var running = new ReaderWriterLockSlim();
        using var stop = new CancellationTokenSource();
        var signers = Enumerable.Range(0, 3).Select(_ => Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                running.EnterReadLock();
                try
                {
                    Verify(signer, "load");
                    Interlocked.Increment(ref signed);
                }
                catch (Exception e) when (e is HsmException or Pkcs11Exception)
                {
                    failures.Enqueue(e);
                }
                finally
                {
                    running.ExitReadLock();
                }
            }
        })).ToArray();

        for (var i = 0; i < 5; i++)
        {
            await Task.Delay(300);
            running.EnterWriteLock();
            hsm.Module.FindSlot(label)!.CloseAllSessions();
            running.ExitWriteLock();
        }

        await stop.CancelAsync();
        await Task.WhenAll(signers).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Empty(failures);
        Assert.True(signed > 50, $"only {signed} signatures");
        Assert.Equal(reinitialisedBefore, hsm.Module.Recovery.Reinitialisations);
        Assert.Equal(HsmHealthStatus.Healthy, pool.Health.Status);
    }

    private static HsmException SignUntilFailure(Pkcs11Signer signer)
    {
        for (var i = 0; i < 50; i++)
        {
            try
            {
                Verify(signer, "during");
            }
            catch (HsmException e)
            {
                return e;
            }

            Thread.Sleep(100);
        }

        throw new Xunit.Sdk.XunitException("signing went on for 5 s with the token store gone");
    }

    private static void Verify(Pkcs11Signer signer, string text)
    {
        var data = Encoding.ASCII.GetBytes(text);
        var signature = signer.Sign(SignatureAlgorithm.EcdsaSha256, data);
        using var ec = ECDsa.Create();
        ec.ImportSubjectPublicKeyInfo(signer.SubjectPublicKeyInfo, out _);
        Assert.True(ec.VerifyData(data, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));
    }

    private List<HsmModuleEvent> DrainEvents()
    {
        var events = new List<HsmModuleEvent>();
        while (hsm.Module.Recovery.TryPeekEvent(out var e) && events.Count < 1000)
        {
            events.Add(e);
            hsm.Module.Recovery.TakeEvent();
        }

        return events;
    }
}
