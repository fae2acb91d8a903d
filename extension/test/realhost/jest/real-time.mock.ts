// @ts-nocheck
/**
 * Stands in for Freelens's test-utils/use-fake-time: the application builder switches jest to fake
 * timers. React 17's scheduler, as it runs under jsdom, then queues work (passive effects) on a
 * fake setTimeout; switched back to real timers later, that queue never runs again, so observers
 * mounted afterwards never reach useEffect and never re-render when their stores change (a page
 * stayed at "Loading..." with its state long settled). The API server is real, so time is real
 * from the start.
 */
export const testUsingFakeTime = () => {};
export const advanceFakeTime = () => {
  throw new Error("the real-host harness runs on real time");
};
