"use client";
import { SegmentError } from "@/components/SegmentError";

export default function Error({ reset }: { error: Error & { digest?: string }; reset: () => void }) {
  return <SegmentError reset={reset} />;
}
