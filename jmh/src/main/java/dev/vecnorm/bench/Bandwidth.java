package dev.vecnorm.bench;

import org.openjdk.jmh.annotations.Fork;

/** Streaming probe: this machine's memory ceiling for each operation. */
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx1g"})
public class Bandwidth extends BatchNormBenchmark {
  @Override
  protected Ops createOps() {
    return new BandwidthOps();
  }
}
