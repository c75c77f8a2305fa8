import CProcessMemory

/// The allocator's view of this process's memory (glibc).
public enum ProcessMemory {
    /// Heap bytes allocated and not freed: what the data the gateway holds
    /// costs, without the free memory the allocator keeps around.
    public static func heapInUse() -> Int { Int(tg_heap_in_use()) }

    /// Gives free heap memory back to the system (`malloc_trim(0)`).
    public static func trim() { _ = tg_heap_trim() }

    /// Unmaps the never-written pages of read-only file mappings (program
    /// text and read-only data): they stay in the page cache and are mapped
    /// again on their next use. Returns the resident bytes released.
    public static func releaseCleanFilePages() -> Int { Int(tg_release_clean_file_pages()) }

    /// Caps glibc's malloc arenas. Each thread that allocates may otherwise get
    /// an arena of its own (up to 8 per core), and memory freed in one arena
    /// is not reused by the others, which inflates RSS under load.
    public static func limitArenas(_ count: Int) { _ = tg_heap_limit_arenas(Int32(count)) }
}
