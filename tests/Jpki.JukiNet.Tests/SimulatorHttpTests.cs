using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Jpki.JukiNet.Tests;

public class SimulatorHttpTests(SimulatorFixture simulator) : IClassFixture<SimulatorFixture>
{
    private const string ProblemJson = "application/problem+json";

    [Fact]
    public async Task Health_reports_the_population()
    {
        using var answer = await simulator.Http.GetAsync(new Uri(simulator.BaseAddress, "healthz"));
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        using var body = JsonDocument.Parse(await answer.Content.ReadAsStringAsync());
        Assert.Equal("ok", body.RootElement.GetProperty("status").GetString());
        Assert.True(body.RootElement.GetProperty("residents").GetInt64() >= SimulatorFixture.Residents);
    }

    [Fact]
    public async Task Lookup_answers_the_generated_record_exactly()
    {
        var client = simulator.Client();
        foreach (var expected in simulator.Population.Take(20))
        {
            var found = Assert.IsType<ResidentFound>(await client.LookupAsync(expected.ResidentCode));
            Assert.Equal(JsonSerializer.Serialize(expected, JukiNetJson.Options), JsonSerializer.Serialize(found.Record, JukiNetJson.Options));
        }
    }

    [Fact]
    public async Task Lookup_json_has_the_contract_shape()
    {
        var resident = simulator.Population[0];
        using var answer = await simulator.Http.GetAsync(new Uri(simulator.BaseAddress, $"api/v1/residents/{resident.ResidentCode.Digits}"));
        Assert.Equal("application/json", answer.Content.Headers.ContentType?.MediaType);
        using var body = JsonDocument.Parse(await answer.Content.ReadAsStringAsync());
        var names = body.RootElement.EnumerateObject().Select(p => p.Name).ToArray();
        Assert.Equal(
            ["residentCode", "name", "nameSubstitutes", "dateOfBirth", "sex", "address", "addressSubstitutes", "municipalityCode", "status", "sequence"],
            names);
        Assert.Equal(resident.DateOfBirth.ToJpki(), body.RootElement.GetProperty("dateOfBirth").GetString());
        Assert.Equal(JsonValueKind.Number, body.RootElement.GetProperty("sex").ValueKind);
        Assert.Equal("registered", body.RootElement.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Unknown_resident_is_404_problem_and_the_client_says_not_found()
    {
        var unknown = ResidentCode.FromFirstTen("0000000001");
        Assert.DoesNotContain(simulator.Population, r => r.ResidentCode == unknown);
        using var answer = await simulator.Http.GetAsync(new Uri(simulator.BaseAddress, $"api/v1/residents/{unknown.Digits}"));
        Assert.Equal(HttpStatusCode.NotFound, answer.StatusCode);
        Assert.Equal(ProblemJson, answer.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await answer.Content.ReadAsStringAsync());
        Assert.Equal(JukiNetJson.ResidentNotFoundProblemType, problem.RootElement.GetProperty("type").GetString());

        var result = await simulator.Client().LookupAsync(unknown);
        Assert.Equal(unknown, Assert.IsType<ResidentNotFound>(result).ResidentCode);
    }

    [Theory]
    [InlineData("12345678901", "check digit")]
    [InlineData("1234567890", "11 ASCII digits")]
    [InlineData("abcdefghijk", "11 ASCII digits")]
    [InlineData("123456789000", "11 ASCII digits")]
    public async Task Malformed_code_is_400_problem(string code, string reason)
    {
        using var answer = await simulator.Http.GetAsync(new Uri(simulator.BaseAddress, $"api/v1/residents/{code}"));
        Assert.Equal(HttpStatusCode.BadRequest, answer.StatusCode);
        Assert.Equal(ProblemJson, answer.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await answer.Content.ReadAsStringAsync());
        Assert.Equal(400, problem.RootElement.GetProperty("status").GetInt32());
        Assert.Contains(reason, problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_route_is_a_problem_too()
    {
        using var answer = await simulator.Http.GetAsync(new Uri(simulator.BaseAddress, "api/v1/nothing"));
        Assert.Equal(HttpStatusCode.NotFound, answer.StatusCode);
        Assert.Equal(ProblemJson, answer.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Created_resident_can_be_looked_up()
    {
        var code = await CreateResidentAsync("𠮷田　花子", "1989-00-00", 2, "山口県周南市岐山通１－２　コーポ中央１０１号", "352152", nameSubstitutes: "10000");

        var record = Assert.IsType<ResidentFound>(await simulator.Client().LookupAsync(code)).Record;
        Assert.Equal("𠮷田　花子", record.Name);
        Assert.Equal("10000", record.NameSubstitutes);
        Assert.Equal("019890000", record.DateOfBirth.ToJpki());
        Assert.Equal(Sex.Female, record.Sex);
        Assert.Equal("山口県周南市岐山通１－２　コーポ中央１０１号", record.Address);
        Assert.Equal(new string('0', 22), record.AddressSubstitutes);
        Assert.Equal(MunicipalityCode.Parse("352152"), record.MunicipalityCode);
        Assert.Equal(ResidentStatus.Registered, record.Status);
        Assert.Equal(0, record.Sequence);
    }

    [Theory]
    [InlineData("""{"dateOfBirth":"1980-01-01","sex":1,"address":"山口県山口市中央１","municipalityCode":"352012"}""", "name is missing")]
    [InlineData("""{"name":"山田　太郎","nameSubstitutes":"000","dateOfBirth":"1980-01-01","sex":1,"address":"山口県山口市中央１","municipalityCode":"352012"}""", "one digit")]
    [InlineData("""{"name":"山田　太郎","dateOfBirth":"1980-13-01","sex":1,"address":"山口県山口市中央１","municipalityCode":"352012"}""", "month")]
    [InlineData("""{"name":"山田　太郎","dateOfBirth":"1980/01/01","sex":1,"address":"山口県山口市中央１","municipalityCode":"352012"}""", "YYYY-MM-DD")]
    [InlineData("""{"name":"山田　太郎","dateOfBirth":"1980-01-01","sex":4,"address":"山口県山口市中央１","municipalityCode":"352012"}""", "sex")]
    [InlineData("""{"name":"山田　太郎","dateOfBirth":"1980-01-01","sex":"1","address":"山口県山口市中央１","municipalityCode":"352012"}""", "JSON value could not be converted")]
    [InlineData("""{"name":"山田　太郎","dateOfBirth":"1980-01-01","sex":1,"address":"山口県下関市竹崎町１","municipalityCode":"352012"}""", "must start with 山口県山口市")]
    [InlineData("""{"name":"山田　太郎","dateOfBirth":"1980-01-01","sex":1,"address":"山口県山口市中央１","municipalityCode":"352013"}""", "check digit")]
    [InlineData("""{"name":"山田　太郎","dateOfBirth":"1980-01-01","sex":1,"address":"東京都千代田区１","municipalityCode":"131016"}""", "not one of 山口県's")]
    [InlineData("""{"name":"山田""", "malformed")]
    [InlineData("[]", "malformed")]
    public async Task Invalid_resident_is_400_problem(string body, string reason)
    {
        using var answer = await PostAsync("api/v1/residents", body);
        await AssertProblemAsync(answer, HttpStatusCode.BadRequest, reason);
    }

    [Fact]
    public async Task Oversized_and_non_json_bodies_are_refused()
    {
        using var big = await PostAsync("api/v1/residents", "{\"name\":\"" + new string('a', 70_000) + "\"}");
        await AssertProblemAsync(big, HttpStatusCode.RequestEntityTooLarge, "at most 65536 bytes");

        using var content = new StringContent("name=x", Encoding.UTF8, "application/x-www-form-urlencoded");
        using var form = await simulator.Http.PostAsync(new Uri(simulator.BaseAddress, "api/v1/residents"), content);
        await AssertProblemAsync(form, HttpStatusCode.UnsupportedMediaType, "application/json");
    }

    public static TheoryData<string, string, ResidentStatus> ChangeTypes() => new()
    {
        { """{"type":"addressChange","address":"山口県山口市亀山町２－３"}""", "address", ResidentStatus.Registered },
        { """{"type":"addressRenumbering","address":"山口県山口市亀山町二丁目３－４"}""", "address", ResidentStatus.Registered },
        { """{"type":"moveOut","address":"東京都千代田区永田町１－７－１","municipalityCode":"131016"}""", "none", ResidentStatus.MovedOut },
        { """{"type":"moveIn","address":"山口県下関市竹崎町１－１","municipalityCode":"352021"}""", "address", ResidentStatus.Registered },
        { """{"type":"nameChange","name":"佐藤　花子"}""", "name", ResidentStatus.Registered },
        { """{"type":"sexChange","sex":3}""", "sex", ResidentStatus.Registered },
        { """{"type":"birthDateCorrection","dateOfBirth":"1950-06-00"}""", "dateOfBirth", ResidentStatus.Registered },
        { """{"type":"correction"}""", "none", ResidentStatus.Registered },
        { """{"type":"death"}""", "none", ResidentStatus.Deceased },
        { """{"type":"deletion"}""", "none", ResidentStatus.Deleted },
        { """{"type":"emigration","continuedUse":false}""", "none", ResidentStatus.MovedOut },
        { """{"type":"emigration","continuedUse":true,"address":"ALEXANDERPLATZ 1, BERLIN"}""", "none", ResidentStatus.Registered },
    };

    [Theory]
    [MemberData(nameof(ChangeTypes))]
    public async Task Each_change_type_updates_the_record_and_bumps_the_sequence(string change, string changedFact, ResidentStatus status)
    {
        var code = await CreateResidentAsync("山田　花子", "1980-04-01", 2, "山口県山口市中央１－２", "352012");
        var client = simulator.Client();
        var before = Assert.IsType<ResidentFound>(await client.LookupAsync(code)).Record;

        var sequence = await PostChangeAsync(code, change);
        var after = Assert.IsType<ResidentFound>(await client.LookupAsync(code)).Record;

        Assert.True(sequence > 0);
        Assert.Equal(sequence, after.Sequence);
        Assert.Equal(status, after.Status);
        Assert.Equal(changedFact == "name" ? "佐藤　花子" : before.Name, after.Name);
        Assert.Equal(changedFact == "sex" ? Sex.Unknown : before.Sex, after.Sex);
        Assert.Equal(changedFact == "dateOfBirth" ? "319500600" : before.DateOfBirth.ToJpki(), after.DateOfBirth.ToJpki());
        if (changedFact == "address")
        {
            Assert.NotEqual(before.Address, after.Address);
            Assert.Equal(after.Address.EnumerateRunes().Count(), after.AddressSubstitutes.Length);
        }
        else
        {
            Assert.Equal(before.Address, after.Address);
            Assert.Equal(before.MunicipalityCode, after.MunicipalityCode);
        }

        var page = await client.GetChangesAsync(sequence - 1, 1);
        var feedEvent = Assert.Single(page.Changes);
        Assert.Empty(page.Malformed);
        Assert.Equal(sequence, feedEvent.Sequence);
        Assert.Equal(code, feedEvent.ResidentCode);
        Assert.Equal(new DateOnly(2026, 11, 1), feedEvent.EffectiveDate);
        Assert.Null(feedEvent.Check());
        Assert.True(page.Last >= sequence);
    }

    [Fact]
    public async Task The_global_sequence_strictly_increases_across_residents()
    {
        var first = await CreateResidentAsync("SMITH JOHN", "1975-06-00", 1, "山口県宇部市常盤町１－１", "352039");
        var second = await CreateResidentAsync("高橋　一郎", "1960-01-15", 1, "山口県萩市江向３－４", "352047", nameSubstitutes: "10000");
        var sequences = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            sequences.Add(await PostChangeAsync(i % 2 == 0 ? first : second, """{"type":"correction"}"""));
        }

        Assert.Equal(sequences.Order(), sequences);
        Assert.Equal(sequences.Count, sequences.Distinct().Count());
        var client = simulator.Client();
        Assert.Equal(sequences[^1], Assert.IsType<ResidentFound>(await client.LookupAsync(first)).Record.Sequence);
        Assert.Equal(sequences[^2], Assert.IsType<ResidentFound>(await client.LookupAsync(second)).Record.Sequence);
    }

    [Fact]
    public async Task Concurrent_changes_get_distinct_increasing_sequences_and_each_record_its_latest()
    {
        var residents = new List<ResidentCode>();
        for (var i = 0; i < 4; i++)
        {
            residents.Add(await CreateResidentAsync("林　葵", "2010-02-28", 2, "山口県岩国市今津町１－１", "352080"));
        }

        var client = simulator.Client();
        var before = (await client.GetChangesAsync(0, 1)).Last;
        var posted = await Task.WhenAll(Enumerable.Range(0, 24).Select(i => PostChangeAsync(residents[i % 4], """{"type":"correction"}""")));

        Assert.Equal(posted.Length, posted.Distinct().Count());
        Assert.Equal(Enumerable.Range((int)before + 1, posted.Length).Select(i => (long)i), posted.Order());
        var feed = await client.GetChangesAsync(before, 100);
        Assert.Equal(posted.Order(), feed.Changes.Select(c => c.Sequence));
        foreach (var code in residents)
        {
            var latest = feed.Changes.Where(c => c.ResidentCode == code).Max(c => c.Sequence);
            Assert.Equal(latest, Assert.IsType<ResidentFound>(await client.LookupAsync(code)).Record.Sequence);
        }
    }

    [Fact]
    public async Task Invalid_changes_are_refused_and_change_nothing()
    {
        var code = await CreateResidentAsync("山田　太郎", "1980-04-01", 1, "山口県防府市寿町１", "352063");
        var client = simulator.Client();
        var last = (await client.GetChangesAsync(0, 1)).Last;

        async Task Refused(string body, HttpStatusCode status, string reason)
        {
            using var answer = await PostAsync("api/v1/changes", body);
            await AssertProblemAsync(answer, status, reason);
        }

        var c = code.Digits;
        await Refused($$"""{"residentCode":"{{c}}","type":"teleport","effectiveDate":"2026-11-01"}""", HttpStatusCode.BadRequest, "type must be one of");
        await Refused($$"""{"residentCode":"{{c}}","type":"death","effectiveDate":"01/11/2026"}""", HttpStatusCode.BadRequest, "effectiveDate");
        await Refused($$"""{"residentCode":"{{c}}","type":"nameChange","effectiveDate":"2026-11-01"}""", HttpStatusCode.BadRequest, "needs name");
        await Refused($$"""{"residentCode":"{{c}}","type":"death","effectiveDate":"2026-11-01","sex":1}""", HttpStatusCode.BadRequest, "does not carry sex");
        await Refused($$"""{"residentCode":"{{c}}","type":"addressChange","effectiveDate":"2026-11-01","address":"山口県光市中央１","municipalityCode":"352101"}""", HttpStatusCode.BadRequest, "stays in the municipality");
        await Refused($$"""{"residentCode":"{{c}}","type":"emigration","effectiveDate":"2026-11-01"}""", HttpStatusCode.BadRequest, "continuedUse");
        await Refused("""{"residentCode":"12345678901","type":"death","effectiveDate":"2026-11-01"}""", HttpStatusCode.BadRequest, "check digit");
        await Refused("""{"residentCode":"00000000018","type":"death","effectiveDate":"2026-11-01"}""", HttpStatusCode.NotFound, "no record");
        Assert.Equal(last, (await client.GetChangesAsync(0, 1)).Last);

        await PostChangeAsync(code, """{"type":"death"}""");
        await Refused($$"""{"residentCode":"{{c}}","type":"correction","effectiveDate":"2026-11-01"}""", HttpStatusCode.Conflict, "deceased");
        Assert.Equal(last + 1, (await client.GetChangesAsync(0, 1)).Last);
        Assert.Equal(ResidentStatus.Deceased, Assert.IsType<ResidentFound>(await client.LookupAsync(code)).Record.Status);
    }

    [Fact]
    public async Task The_feed_pages_by_after_and_limit_in_sequence_order()
    {
        var code = await CreateResidentAsync("NGUYEN VAN ANH", "2001-09-30", 2, "山口県下松市大手町２－３", "352071");
        var posted = new List<long>();
        for (var i = 0; i < 7; i++)
        {
            posted.Add(await PostChangeAsync(code, """{"type":"correction"}"""));
        }

        var client = simulator.Client();
        var seen = new List<ChangeEvent>();
        long cursor = 0;
        while (true)
        {
            var page = await client.GetChangesAsync(cursor, 3);
            Assert.True(page.Changes.Count <= 3);
            Assert.Empty(page.Malformed);
            if (page.Changes.Count == 0)
            {
                Assert.Equal(cursor, page.Last);
                break;
            }

            Assert.All(page.Changes, e => Assert.True(e.Sequence > cursor));
            seen.AddRange(page.Changes);
            cursor = page.Changes[^1].Sequence;
        }

        var sequences = seen.Select(e => e.Sequence).ToList();
        Assert.Equal(Enumerable.Range(1, sequences.Count).Select(i => (long)i), sequences); // one simulator: no gaps
        Assert.Subset(sequences.ToHashSet(), posted.ToHashSet());

        var tail = await client.GetChangesAsync(posted[2], 2);
        Assert.Equal([posted[3], posted[4]], tail.Changes.Select(e => e.Sequence));
        Assert.Equal(cursor, tail.Last);
    }

    [Theory]
    [InlineData("after=-1", "after")]
    [InlineData("after=x", "after")]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=1001", "limit")]
    public async Task Bad_feed_parameters_are_400_problem(string query, string reason)
    {
        using var answer = await simulator.Http.GetAsync(new Uri(simulator.BaseAddress, "api/v1/changes?" + query));
        await AssertProblemAsync(answer, HttpStatusCode.BadRequest, reason);
    }

    private async Task<HttpResponseMessage> PostAsync(string path, string json)
    {
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        return await simulator.Http.PostAsync(new Uri(simulator.BaseAddress, path), content);
    }

    private async Task<ResidentCode> CreateResidentAsync(string name, string dateOfBirth, int sex, string address, string municipalityCode, string? nameSubstitutes = null)
    {
        using var answer = await simulator.Http.PostAsJsonAsync(
            new Uri(simulator.BaseAddress, "api/v1/residents"),
            new { name, nameSubstitutes, dateOfBirth, sex, address, municipalityCode });
        Assert.Equal(HttpStatusCode.Created, answer.StatusCode);
        using var body = JsonDocument.Parse(await answer.Content.ReadAsStringAsync());
        return ResidentCode.Parse(body.RootElement.GetProperty("residentCode").GetString()!);
    }

    /// <summary>Posts a change for <paramref name="code"/> effective 2026-11-01; <paramref name="values"/> holds type and new values.</summary>
    private async Task<long> PostChangeAsync(ResidentCode code, string values)
    {
        var body = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(values)!;
        body["residentCode"] = JsonSerializer.SerializeToElement(code.Digits);
        body["effectiveDate"] = JsonSerializer.SerializeToElement("2026-11-01");
        using var answer = await simulator.Http.PostAsJsonAsync(new Uri(simulator.BaseAddress, "api/v1/changes"), body);
        Assert.True(answer.StatusCode == HttpStatusCode.Created, await answer.Content.ReadAsStringAsync());
        using var created = JsonDocument.Parse(await answer.Content.ReadAsStringAsync());
        return created.RootElement.GetProperty("sequence").GetInt64();
    }

    private static async Task AssertProblemAsync(HttpResponseMessage answer, HttpStatusCode status, string reason)
    {
        var text = await answer.Content.ReadAsStringAsync();
        Assert.True(answer.StatusCode == status, $"{answer.StatusCode}: {text}");
        Assert.Equal(ProblemJson, answer.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(text);
        Assert.Equal((int)status, problem.RootElement.GetProperty("status").GetInt32());
        var explanation = problem.RootElement.GetProperty("title").GetString() + " " +
            (problem.RootElement.TryGetProperty("detail", out var detail) ? detail.GetString() : "");
        Assert.Contains(reason, explanation, StringComparison.Ordinal);
    }
}
