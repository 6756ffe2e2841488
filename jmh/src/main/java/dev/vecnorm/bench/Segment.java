package dev.vecnorm.bench;

import org.openjdk.jmh.annotations.Fork;

/**
 * The library's {@code MemorySegment} entry points on native (off-heap) segments, same JVM flags as
 * {@link Vector}: {@code report} divides the two for the segment/array ratio.
 */
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx1g"})
public class Segment extends BatchNormBenchmark {
  @Override
  protected Ops createOps() {
    return new SegmentOps(true);
  }
}
