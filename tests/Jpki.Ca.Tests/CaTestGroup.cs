namespace Jpki.Ca.Tests;

/// <summary>The CA tests share one install (<see cref="CaFixture"/>): its ceremony takes seconds.</summary>
[CollectionDefinition(Name)]
public sealed class CaTestGroup : ICollectionFixture<CaFixture>
{
    public const string Name = "ca";
}
