import fs from 'node:fs';
import path from 'node:path';

// A backend module is opened with dlopen, which maps its segments from the file. A truncated file (a cut-off
// download or copy) maps pages past its end, and the first touch of one kills the process with SIGBUS, before
// dlopen can report anything. So an ELF module's headers are checked against its size first: every loadable
// segment and the header tables must lie inside the file. Other formats (Mach-O, PE) are left to the loader.

const PT_LOAD = 1;

/** Why the ELF shared object at `file` cannot be loaded safely, or undefined when it looks whole (or is not ELF). */
export function truncatedModuleProblem(file: string): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    return (err as Error).message;
  }
  try {
    const size = fs.fstatSync(fd).size;
    const header = Buffer.alloc(64);
    const got = fs.readSync(fd, header, 0, header.length, 0);
    if (got < 4 || header.readUInt32BE(0) !== 0x7f454c46) return undefined; // not ELF: not ours to judge
    if (got < 64 || header[4] !== 2 || header[5] !== 1) return `${file} is not a 64-bit little-endian ELF object this addon can load`;
    const programOffset = Number(header.readBigUInt64LE(0x20));
    const sectionOffset = Number(header.readBigUInt64LE(0x28));
    const programEntry = header.readUInt16LE(0x36);
    const programCount = header.readUInt16LE(0x38);
    const sectionEntry = header.readUInt16LE(0x3a);
    const sectionCount = header.readUInt16LE(0x3c);
    const truncated = (needed: number) => `${file} is truncated or corrupt (${size} bytes; its headers need ${needed})`;
    const programEnd = programOffset + programEntry * programCount;
    if (programEnd > size) return truncated(programEnd);
    const sectionEnd = sectionOffset + sectionEntry * sectionCount;
    if (sectionEnd > size) return truncated(sectionEnd);
    const table = Buffer.alloc(programEntry * programCount);
    fs.readSync(fd, table, 0, table.length, programOffset);
    for (let i = 0; i < programCount; i++) {
      const entry = i * programEntry;
      if (table.readUInt32LE(entry) !== PT_LOAD) continue;
      const segmentEnd = Number(table.readBigUInt64LE(entry + 0x08)) + Number(table.readBigUInt64LE(entry + 0x20));
      if (segmentEnd > size) return truncated(segmentEnd);
    }
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/** `loader` with each module file checked before the native loader opens it (names without a folder are the system's). */
export function checkedLoader<T extends { probeBackend(file: string): number; loadBackend(file: string): unknown }>(loader: T): Pick<T, 'probeBackend' | 'loadBackend'> {
  const check = (file: string) => {
    const problem = path.isAbsolute(file) ? truncatedModuleProblem(file) : undefined;
    if (problem) throw new Error(problem);
  };
  return {
    probeBackend: (file) => (check(file), loader.probeBackend(file)),
    loadBackend: (file) => (check(file), loader.loadBackend(file)) as ReturnType<T['loadBackend']>,
  } as Pick<T, 'probeBackend' | 'loadBackend'>;
}
