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

    [Fact]
    public void Wrong_pin_after_a_pin_change_is_a_typed_error_presented_once_and_a_new_pin_file_recovers()
    {
        var (label, pinFile) = hsm.NewToken("pinchange");
        var logger = new CapturingLogger();
        using var token = HsmToken.Open(hsm.Module, label, PinSource.FromFile(pinFile), logger);
        token.GenerateKeyPair(KeyKind.EcP256, "k");
        using var pool = token.CreatePool("pinchange", 2);
        using var signer = Pkcs11Signer.Open(pool, "k");
        Verify(signer, "before");

        // Another process changes the user PIN (as an officer would with pkcs11-tool); this
        // process still has the old one in its PIN file. Our store lock keeps this process out
        // of the token files while pkcs11-tool rewrites them.
        var oldPin = File.ReadAllText(pinFile).Trim();
        var newPin = SoftHsmFixture.RandomPin();
        using (hsm.Module.LockTokenStore())
        {
            var changed = ExternalPkcs11Tool("--token-label", label, "--login", "--pin", oldPin, "--change-pin", "--new-pin", newPin);
            Assert.True(changed.ExitCode == 0, changed.Output);
        }

        // SoftHSM reads the new PIN's blob only in C_Initialize: re-initialise the module as after
        // a loss. The next operation must log in again, with the PIN file's old PIN.
        Assert.Null(hsm.Module.Reinitialise(TimeSpan.FromSeconds(10)));
        var refusals = new List<Exception>();
        for (var i = 0; i < 10; i++)
        {
            refusals.Add(Assert.ThrowsAny<HsmException>(() => Verify(signer, "refused")));
            hsm.Module.Recovery.RecoverIfDue();
        }

        Assert.All(refusals, e => Assert.IsType<HsmWrongPinException>(e));
        Assert.Equal(HsmModuleState.PinRefused, hsm.Module.Recovery.Status.State);
        Assert.Equal(HsmHealthStatus.Unavailable, pool.Health.Status);
        // One C_Login with the old PIN, not eleven: a real HSM would have locked the PIN by now.
        Assert.Single(logger.Lines, l => l.Contains("refused the PIN from", StringComparison.Ordinal));
        Assert.DoesNotContain(oldPin, logger.All, StringComparison.Ordinal);

        // The operator writes the new PIN into the file: the watch loop logs in, without a restart.
        File.WriteAllText(pinFile, newPin + "\n");
        var clock = Stopwatch.StartNew();
        while (hsm.Module.Recovery.RecoverIfDue().State != HsmModuleState.Ok && clock.Elapsed < Patience)
        {
            Thread.Sleep(50);
        }

        Assert.Equal(HsmModuleState.Ok, hsm.Module.Recovery.Status.State);
        Assert.Equal(HsmHealthStatus.Healthy, pool.Health.Status);
        Verify(signer, "after");
        Assert.DoesNotContain(newPin, logger.All, StringComparison.Ordinal);
        DrainEvents();
    }

    [Fact]
    public void Login_refusals_map_to_typed_errors_and_a_locked_pin_is_its_own_type()
    {
        // SoftHSM has no retry counter, so CKR_PIN_LOCKED cannot be provoked: the mapping alone.
        var locked = LoginRefusal.Map("JPKI", new Pkcs11Exception("C_Login", CKR.CKR_PIN_LOCKED));
        var lockedError = Assert.IsType<HsmPinLockedException>(locked);
        Assert.Equal("JPKI", lockedError.TokenLabel);
        Assert.Contains("locked", lockedError.Message, StringComparison.Ordinal);
        foreach (var wrong in new[] { CKR.CKR_PIN_INCORRECT, CKR.CKR_PIN_INVALID, CKR.CKR_PIN_LEN_RANGE })
        {
            Assert.IsType<HsmWrongPinException>(LoginRefusal.Map("JPKI", new Pkcs11Exception("C_Login", wrong)));
        }

        // Not a PIN problem: the caller handles these as faults of the token or the module.
        Assert.Null(LoginRefusal.Map("JPKI", new Pkcs11Exception("C_Login", CKR.CKR_TOKEN_NOT_PRESENT)));
        Assert.Null(LoginRefusal.Map("JPKI", new Pkcs11Exception("C_Login", CKR.CKR_USER_ALREADY_LOGGED_IN)));
        Assert.True(ModuleRecovery.IsLoss(CKR.CKR_TOKEN_NOT_PRESENT));
        Assert.True(ModuleRecovery.IsLoss(CKR.CKR_CRYPTOKI_NOT_INITIALIZED));
        Assert.True(ModuleRecovery.IsLoss(new HsmTokenNotFoundException("JPKI")));
        Assert.False(ModuleRecovery.IsLoss(CKR.CKR_PIN_LOCKED));
        Assert.False(ModuleRecovery.IsLoss(new HsmPinLockedException("JPKI")));
    }

    private (int ExitCode, string Output) ExternalPkcs11Tool(params string[] arguments)
    {
        var start = new ProcessStartInfo("pkcs11-tool") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("--module");
        start.ArgumentList.Add(hsm.ModulePath);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["SOFTHSM2_CONF"] = Path.Combine(hsm.Root, "softhsm2.conf");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill();
            throw new TimeoutException("pkcs11-tool did not finish in 60 s");
        }

        return (process.ExitCode, stdout.GetAwaiter().GetResult() + stderr.GetAwaiter().GetResult());
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
