namespace TrtNative.Server.Repository;

/// <summary>
/// What one service creation changed in a repository, undone unless committed: the repository directory when the
/// creation made it, and the files model.init installed (each file it replaced is kept aside until then). model.init
/// is fetched and extracted into a staging folder inside the repository (same file system, so installing is a set of
/// renames) and moved into place only once complete; disposing without <see cref="Commit"/> restores the repository.
/// </summary>
public sealed class RepositoryChange : IDisposable
{
    /// <summary>Prefix of the staging folders inside a repository.</summary>
    public const string StagingPrefix = ".trtnative-init-";

    private readonly List<(string Target, string? Backup)> _installed = [];
    private string? _staging;
    private bool _committed;

    /// <param name="repository">Full path of the repository.</param>
    /// <param name="createdRoot">The topmost directory this creation made (removed on rollback), or null.</param>
    public RepositoryChange(string repository, string? createdRoot)
    {
        Repository = repository;
        CreatedRoot = createdRoot;
    }

    /// <summary>Full path of the repository.</summary>
    public string Repository { get; }

    /// <summary>The topmost directory this creation made, or null when the repository existed.</summary>
    public string? CreatedRoot { get; }

    /// <summary>A fresh staging folder inside the repository (created on first use, removed at dispose).</summary>
    public string Staging
    {
        get
        {
            if (_staging == null)
            {
                _staging = Path.Combine(Repository, StagingPrefix + Guid.NewGuid().ToString("N")[..12]);
                Directory.CreateDirectory(_staging);
            }
            return _staging;
        }
    }

    /// <summary>Moves everything under <paramref name="from"/> (a folder in <see cref="Staging"/>) into the repository.</summary>
    public void Install(string from) => Merge(from, Repository);

    /// <summary>Moves one staged file to <paramref name="target"/> in the repository (replacing, recoverably, what is there).</summary>
    public void InstallFile(string staged, string target)
    {
        string? backup = null;
        if (File.Exists(target) || Directory.Exists(target) || new FileInfo(target).LinkTarget != null)
        {
            backup = Path.Combine(Staging, "replaced", Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(Path.GetDirectoryName(backup)!);
            if (Directory.Exists(target) && new DirectoryInfo(target).LinkTarget == null) Directory.Move(target, backup);
            else File.Move(target, backup);
        }
        _installed.Add((target, backup));
        if (Directory.Exists(staged) && new DirectoryInfo(staged).LinkTarget == null) Directory.Move(staged, target);
        else File.Move(staged, target);
    }

    private void Merge(string from, string to)
    {
        foreach (var entry in Directory.GetFileSystemEntries(from))
        {
            string target = Path.Combine(to, Path.GetFileName(entry));
            bool isRealDir = Directory.Exists(entry) && new DirectoryInfo(entry).LinkTarget == null;
            bool targetIsRealDir = Directory.Exists(target) && new DirectoryInfo(target).LinkTarget == null;
            if (isRealDir && targetIsRealDir) Merge(entry, target);
            else InstallFile(entry, target);
        }
    }

    /// <summary>Keeps the changes: the files replaced are dropped.</summary>
    public void Commit() => _committed = true;

    /// <summary>Removes the staging folder; without <see cref="Commit"/>, first undoes every change (newest first).</summary>
    /// <remarks>Runs while an error unwinds: a step that fails (a busy file, permissions) is skipped, the others still run, and the
    /// error that caused the undo stays the one the client sees.</remarks>
    public void Dispose()
    {
        if (!_committed)
        {
            for (int i = _installed.Count - 1; i >= 0; i--)
            {
                var (target, backup) = _installed[i];
                BestEffort(() =>
                {
                    Remove(target);
                    if (backup != null)
                    {
                        if (Directory.Exists(backup) && new DirectoryInfo(backup).LinkTarget == null) Directory.Move(backup, target);
                        else File.Move(backup, target);
                    }
                });
            }
            if (CreatedRoot != null) BestEffort(() => Remove(CreatedRoot));
        }
        if (_staging != null) BestEffort(() => Remove(_staging));
    }

    private static void BestEffort(Action step)
    {
        try
        {
            step();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left for the next install into this repository (stale staging folders are removed then).
        }
    }

    /// <summary>Deletes a file, link or directory tree (links are removed, never followed); missing is fine.</summary>
    public static void Remove(string path)
    {
        var fi = new FileInfo(path);
        if (fi.LinkTarget != null || File.Exists(path)) { File.Delete(path); return; }
        if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
    }

    /// <summary>Removes staging folders an interrupted creation left in <paramref name="repository"/> over an hour ago.</summary>
    public static void RemoveStale(string repository)
    {
        foreach (var d in Directory.GetDirectories(repository, StagingPrefix + "*"))
        {
            if (DateTime.UtcNow - Directory.GetLastWriteTimeUtc(d) > TimeSpan.FromHours(1))
            {
                try { Remove(d); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            }
        }
    }
}
