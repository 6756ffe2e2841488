package dev.vecnorm.bench;

import org.openjdk.jmh.annotations.Fork;

/** The {@code MemorySegment} entry points on heap segments of a {@code float[]} (they run on the array itself). */
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx1g"})
public class HeapSegment extends BatchNormBenchmark {
  @Override
  protected Ops createOps() {
    return new SegmentOps(false);
  }
}
