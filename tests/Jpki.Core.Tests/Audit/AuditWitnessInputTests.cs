using System.Text;
using System.Text.Json.Nodes;
using Jpki.Core.Audit;
using Jpki.Core.Configuration;

namespace Jpki.Core.Tests.Audit;

/// <summary>What an auditor or an operator can get wrong: a witness file that is not one, a key hash in the wrong form, witness and timer settings out of range. Each is a typed error that says what.</summary>
public sealed class AuditWitnessInputTests
{
    private static readonly byte[] Spki = TestHsm.Instance.Checkpoint.SubjectPublicKeyInfo;

    [Theory]
    [InlineData("not json", "witness file w.json: not JSON")]
    [InlineData("{\"format\":\"something-else\"}", "witness file w.json: not a checkpoint document (\"format\" must be \"jpki-audit-checkpoint-v1\")")]
    [InlineData("hash=short", "witness file w.json: \"hash\" is not a SHA-256 in 64 lowercase hex digits: 'abc'")]
    [InlineData("keyId=other", "is not the keyId")]
    [InlineData("signature=!!", "witness file w.json: \"signature\" is not base64")]
    [InlineData("statement=other", "witness file w.json: \"statement\" is not the canonical {hash, seq, time} of the checkpoint")]
    [InlineData("keys=none", "witness file w.json: the signature by key")]
    public void A_malformed_witness_file_is_a_typed_error_naming_the_file_and_the_field(string damage, string expected)
    {
        var text = damage.Contains('=', StringComparison.Ordinal) ? Damaged(damage) : damage;
        var error = Assert.Throws<AuditWitnessFileException>(() => AuditCheckpointDocument.Parse(text, "w.json"));
        Assert.Equal("w.json", error.Origin);
        Assert.Contains(expected.Replace("is not the keyId", "subjectPublicKeyInfo hashes to", StringComparison.Ordinal), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_well_formed_document_reads_back_as_written()
    {
        var document = AuditCheckpointDocument.Parse(Encoding.UTF8.GetString(Document().ToUtf8Bytes()), "w.json");
        Assert.Equal((7L, new string('a', 64), 1234L, "w.json"), (document.Seq, document.Hash, document.TimeUs, document.Origin));
        Assert.Equal(Spki, document.Keys.Single().SubjectPublicKeyInfo);
    }

    [Theory]
    [InlineData("AB:CD")]
    [InlineData("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85")]
    [InlineData("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855x")]
    [InlineData("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    public void A_key_hash_that_is_not_64_hex_digits_is_refused(string given)
    {
        var error = Assert.Throws<CheckpointKeyPinException>(() => CheckpointKeyPin.Parse(given));
        Assert.Equal($"--key-sha256 wants the SHA-256 of the checkpoint key's SubjectPublicKeyInfo as 64 hex digits (from the key ceremony record), not '{given}'", error.Message);
    }

    [Fact]
    public void A_key_hash_may_be_upper_case_or_in_colon_separated_pairs()
    {
        const string Hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        Assert.Equal(Hash, CheckpointKeyPin.Parse(Hash.ToUpperInvariant()));
        Assert.Equal(Hash, CheckpointKeyPin.Parse(string.Join(':', Hash.Chunk(2).Select(c => new string(c)))));
    }

    [Theory]
    [InlineData("\"tailCheckpointSeconds\": 0", "audit settings out of range")]
    [InlineData("\"tailCheckpointSeconds\": 3601", "audit settings out of range")]
    [InlineData("\"witness\": \"witness-directory\"", "audit.witness must be an http:// or https:// URL or an absolute directory path, not 'witness-directory'")]
    [InlineData("\"witness\": \"ftp://witness.example/\"", "audit.witness must be")]
    [InlineData("\"witness\": \"https://user:secret@witness.example/\"", "audit.witness must be")]
    public void Witness_and_timer_settings_out_of_range_are_refused_at_load(string setting, string expected)
    {
        var home = Directory.CreateTempSubdirectory("jpki-settings-").FullName;
        File.WriteAllText(Path.Combine(home, JpkiSettings.FileName), $"{{ \"audit\": {{ {setting} }} }}");
        var error = Assert.Throws<InvalidDataException>(() => JpkiSettings.Load(home));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Directory.Delete(home, recursive: true);
    }

    [Fact]
    public void The_timer_defaults_to_60_seconds_and_a_witness_directory_may_be_under_home()
    {
        var home = Directory.CreateTempSubdirectory("jpki-settings-").FullName;
        Assert.Equal((TimeSpan.FromSeconds(60), (string?)null), (JpkiSettings.Load(home).AuditOptions().TailCheckpointInterval, JpkiSettings.Load(home).AuditOptions().Witness));
        File.WriteAllText(Path.Combine(home, JpkiSettings.FileName), "{ \"audit\": { \"witness\": \"{home}/witness\", \"tailCheckpointSeconds\": 5 } }");
        var options = JpkiSettings.Load(home).AuditOptions();
        Assert.Equal((TimeSpan.FromSeconds(5), Path.Combine(home, "witness")), (options.TailCheckpointInterval, options.Witness));
        Directory.Delete(home, recursive: true);
    }

    private static AuditCheckpointDocument Document()
    {
        var keyId = AuditCheckpoint.KeyIdOf(Spki);
        return new AuditCheckpointDocument(7, new string('a', 64), 1234, [new CheckpointSignature(keyId, [1, 2, 3])], [new CheckpointKey(keyId, Spki, null)]);
    }

    private static string Damaged(string damage)
    {
        var json = JsonNode.Parse(Document().ToUtf8Bytes())!.AsObject();
        var checkpoint = json["checkpoint"]!.AsObject();
        switch (damage)
        {
            case "hash=short":
                checkpoint["hash"] = "abc";
                break;
            case "keyId=other":
                checkpoint["keyId"] = new string('b', 64);
                json["keys"]![0]!["keyId"] = new string('b', 64);
                break;
            case "signature=!!":
                checkpoint["signature"] = "!!";
                break;
            case "statement=other":
                json["statement"] = "{}";
                break;
            case "keys=none":
                json["keys"] = new JsonArray();
                break;
        }

        return json.ToJsonString();
    }
}
