using EdgeActors.Client.Serialization;
using System.Reflection;
using Akka.Serialization;
using EdgeActors.Messages;
using EdgeActors.Messages.Serialization;

namespace EdgeActors.Tests.Serialization;

/// <summary>
/// Guards the rule "nothing of ours goes over the wire with Newtonsoft or Hyperion": every concrete
/// <see cref="IEdgeMessage"/> in the product assemblies must bind to <see cref="EdgeSerializer"/> and have a manifest.
/// </summary>
public sealed class EdgeSerializerBindingTests : EdgeSerializationTestKit
{
    /// <summary>Product assemblies that may define messages (test assemblies are excluded on purpose).</summary>
    private static readonly string[] ProductAssemblyNames = ["EdgeActors.Messages", "EdgeActors.Actors", "edgeactors"];

    private static IReadOnlyList<Assembly> ProductAssemblies()
    {
        var assemblies = new Dictionary<string, Assembly>(StringComparer.OrdinalIgnoreCase)
        {
            [typeof(IEdgeMessage).Assembly.GetName().Name!] = typeof(IEdgeMessage).Assembly,
        };
        foreach (var name in ProductAssemblyNames)
        {
            try
            {
                var a = Assembly.Load(new AssemblyName(name));
                assemblies[a.GetName().Name!] = a;
            }
            catch (Exception e) when (e is FileNotFoundException or FileLoadException or BadImageFormatException)
            {
                // not deployed next to the tests: nothing to scan
            }
        }
        // any other EdgeActors.* assembly already loaded (future projects), minus test assemblies
        foreach (var a in AppDomain.CurrentDomain.GetAssemblies())
        {
            var name = a.GetName().Name;
            if (name is null || a.IsDynamic) continue;
            if (!name.StartsWith("EdgeActors", StringComparison.OrdinalIgnoreCase)) continue;
            if (name.Contains("Test", StringComparison.OrdinalIgnoreCase)) continue;
            assemblies[name] = a;
        }
        return assemblies.Values.ToList();
    }

    private static IEnumerable<Type> LoadableTypes(Assembly assembly)
    {
        try
        {
            return assembly.GetTypes();
        }
        catch (ReflectionTypeLoadException e)
        {
            return e.Types.OfType<Type>();
        }
    }

    private static IReadOnlyList<Type> ConcreteMessageTypes() =>
        ProductAssemblies()
            .SelectMany(LoadableTypes)
            .Where(t => typeof(IEdgeMessage).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false, ContainsGenericParameters: false })
            .Distinct()
            .OrderBy(t => t.FullName, StringComparer.Ordinal)
            .ToList();

    [Fact]
    public void Product_assemblies_should_be_found()
    {
        var names = ProductAssemblies().Select(a => a.GetName().Name).ToList();

        Assert.Contains("EdgeActors.Messages", names);
        Assert.Contains("EdgeActors.Actors", names); // referenced by the test project (through Nodes)
        Assert.Contains("edgeactors", names);
    }

    [Fact]
    public void Every_concrete_message_type_should_bind_to_EdgeSerializer_and_have_a_manifest()
    {
        var types = ConcreteMessageTypes();
        Assert.NotEmpty(types);

        var problems = new List<string>();
        foreach (var t in types)
        {
            var serializer = Sys.Serialization.FindSerializerForType(t);
            if (serializer is not EdgeSerializer)
                problems.Add($"{t.FullName} ({t.Assembly.GetName().Name}) falls back to {serializer.GetType().FullName}");
            if (!EdgeSerializer.Manifests.ContainsKey(t))
                problems.Add($"{t.FullName} ({t.Assembly.GetName().Name}) has no entry in EdgeSerializer.Manifests");
        }

        Assert.True(problems.Count == 0, "Messages not covered by EdgeSerializer:\n" + string.Join("\n", problems));
    }

    [Fact]
    public void Every_manifest_entry_should_be_a_concrete_product_message()
    {
        var concrete = ConcreteMessageTypes().ToHashSet();

        foreach (var type in EdgeSerializer.Manifests.Keys)
            Assert.Contains(type, concrete);
    }

    [Fact]
    public void Manifests_should_be_unique_and_short()
    {
        var manifests = EdgeSerializer.Manifests.Values.ToList();

        Assert.Equal(manifests.Count, manifests.Distinct(StringComparer.Ordinal).Count());
        Assert.All(manifests, m => Assert.Equal(2, m.Length));
    }

    [Fact]
    public void Every_manifest_should_deserialize_into_the_type_it_is_registered_for()
    {
        foreach (var (type, manifest) in EdgeSerializer.Manifests)
        {
            var sample = SampleMessages.For(type);
            var serializer = SerializerFor(sample);

            Assert.Equal(manifest, ((SerializerWithStringManifest)serializer).Manifest(sample));
            Assert.Equal(manifest, Akka.Serialization.Serialization.ManifestFor(serializer, sample));

            var back = Sys.Serialization.Deserialize(serializer.ToBinary(sample), serializer.Identifier, manifest);

            Assert.IsType(type, back);
        }
    }

    [Fact]
    public void Samples_should_cover_every_manifest()
    {
        var sampled = SampleMessages.All().Select(m => m.GetType()).ToHashSet();

        Assert.Equal(EdgeSerializer.Manifests.Keys.OrderBy(t => t.FullName), sampled.OrderBy(t => t.FullName));
    }

    [Fact]
    public void EdgeSerializer_should_be_registered_under_its_fixed_id()
    {
        var bound = Sys.Serialization.FindSerializerForType(typeof(IEdgeMessage));

        Assert.IsType<EdgeSerializer>(bound);
        Assert.Equal(EdgeSerializer.Id, bound.Identifier);
        // resolving by id (what a receiving node does) finds the same serializer
        Assert.Same(StopDevice.Instance, Sys.Serialization.Deserialize([], EdgeSerializer.Id, "sd"));
    }

    /// <summary>A message type the serializer does not know: the coverage check above must be able to see it.</summary>
    private sealed record UnregisteredProbe(string Text) : IEdgeMessage;

    [Fact]
    public void A_message_without_manifest_should_be_detected()
    {
        var probe = new UnregisteredProbe("x");

        // bound by the marker interface, so Akka picks EdgeSerializer ...
        Assert.IsType<EdgeSerializer>(Sys.Serialization.FindSerializerForType(typeof(UnregisteredProbe)));
        // ... but it has no manifest: the coverage test's second condition is what catches it
        Assert.False(EdgeSerializer.Manifests.ContainsKey(typeof(UnregisteredProbe)));
        var serializer = EdgeSerializerInstance;
        var e = Assert.Throws<ArgumentException>(() => serializer.Manifest(probe));
        Assert.Contains(nameof(UnregisteredProbe), e.Message);
        Assert.Throws<ArgumentException>(() => serializer.ToBinary(probe));
    }
}
