package dev.vecnorm.bench;

import org.openjdk.jmh.annotations.Fork;

/** Matrix multiply, Vector API kernel. */
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xms1g", "-Xmx1g", "-XX:+AlwaysPreTouch"})
public class MatMulVector extends MatMulBenchmark {}
