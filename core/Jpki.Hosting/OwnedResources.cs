namespace Jpki.Hosting;

/// <summary>
/// What a service opened at start (store, token, session pools, signers), disposed in the reverse
/// order of opening: a pool before the token it came from, the token before the module's users.
/// </summary>
public sealed class OwnedResources : IDisposable
{
    private readonly List<IDisposable> owned = [];

    public T Own<T>(T disposable)
        where T : IDisposable
    {
        ArgumentNullException.ThrowIfNull(disposable);
        owned.Add(disposable);
        return disposable;
    }

    public void Dispose()
    {
        for (var i = owned.Count - 1; i >= 0; i--)
        {
            owned[i].Dispose();
        }

        owned.Clear();
    }
}
