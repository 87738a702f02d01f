Feature: Autoregistration windows
  Autoregistration is enabled only for brief periods (checklist step 6). An
  administrator opens a window with a reason and, optionally, a maximum
  duration and a maximum number of registrations. The window closes when an
  administrator closes it, when its time is up, when its registration limit
  is reached, when the range is exhausted or disabled, or when the cluster
  goes to mixed mode. Each window has an id; the event closing it says why.

  Background:
    Given the sample cluster

  Scenario: Opening autoregistration needs a reason
    When "alice" opens autoregistration because ""
    Then the change is refused because it is invalid
    And the refusal says "needs a reason"
    And autoregistration is closed

  Scenario: A window has an id and remembers who opened it and why
    When "alice" opens autoregistration for 30 minutes because "bulk add"
    Then autoregistration is open
    And the open window is W1, opened by "alice" because "bulk add"
    And the window closes at 09:30
    And the history records "autoregistration.window_opened" by "alice"
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is given directory number 1000

  Scenario: Only one window is open at a time
    Given autoregistration is open by "alice" because "bulk add"
    When "bob" opens autoregistration because "more phones"
    Then the change is refused because a window is already open, naming "alice"
    And the refusal says "W1"
    And the open window is W1, opened by "alice" because "bulk add"

  Scenario: An administrator closes the window
    Given autoregistration is open by "alice" because "bulk add"
    And phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    When "bob" closes autoregistration because "all phones are in"
    Then the window is closed because an administrator closed it
    And the window's close names "bob" and says "all phones are in"
    And the window closed after 1 registration
    When phone SEP00112233AABC of model 7961 registers over SCCP from 10.0.0.6
    Then it is refused because the window is closed

  Scenario: Closing needs an open window and a reason
    When "alice" closes autoregistration because "nothing to close"
    Then the change is refused because no window is open
    Given autoregistration is open by "alice" because "bulk add"
    When "alice" closes autoregistration because ""
    Then the change is refused because it is invalid
    And autoregistration is open

  Scenario: The registrar closes a window when its maximum duration has elapsed
    Given autoregistration is open for 30 minutes by "alice" because "bulk add"
    And phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    When 29 minutes pass
    Then autoregistration is open
    When 1 minute passes
    Then the window is closed because the maximum duration elapsed
    And the window's close names "system" and says "maximum duration elapsed"
    And the window closed at its deadline
    And the window closed after 1 registration
    When phone SEP00112233AABC of model 7961 registers over SCCP from 10.0.0.6
    Then it is refused because the window is closed

  Scenario: A phone arriving after the deadline, before the timer notices, is refused and closes the window
    Given autoregistration is open for 30 minutes by "alice" because "bulk add"
    When 31 minutes pass before the registrar's timer ticks
    Then autoregistration is closed
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is refused because the window is closed
    And the window is closed because the maximum duration elapsed
    And the window closed at its deadline
    And phone SEP00112233AABB is unknown

  Scenario: Opening again after a deadline the timer has not noticed yet
    Given autoregistration is open for 30 minutes by "alice" because "first floor"
    When 40 minutes pass before the registrar's timer ticks
    And "bob" opens autoregistration because "second floor"
    Then the change is accepted
    And window W1 was closed because the maximum duration elapsed
    And the open window is W2, opened by "bob" because "second floor"

  Scenario: The window closes itself when its registration limit is reached
    Given autoregistration is open for at most 2 registrations by "alice" because "two phones"
    When 2 phones of model 7961 register over SCCP
    Then they are given directory numbers 1000 and 1001
    And the window is closed because the registration limit was reached
    And the window's close names "system" and says "limit of 2 registrations"
    And the window closed after 2 registrations
    When another phone of model 7961 registers over SCCP
    Then it is refused because the window is closed

  Scenario: Both limits: the registration limit comes first
    Given autoregistration is open for 60 minutes and at most 1 registration by "alice" because "one phone"
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is given directory number 1000
    And the window is closed because the registration limit was reached

  Scenario: A window without limits stays open until it is closed
    Given autoregistration is open by "alice" because "bulk add"
    When 8 hours pass
    Then autoregistration is open
    And the history records no "autoregistration.window_closed"

  Scenario: Each window gets a new id and counts its own registrations
    Given autoregistration is open by "alice" because "first batch"
    And 3 phones of model 7961 register over SCCP
    And "alice" closes autoregistration because "first batch done"
    When "alice" opens autoregistration because "second batch"
    Then the open window is W2, opened by "alice" because "second batch"
    And window W1 was closed because an administrator closed it
    When 2 phones of model 7961 register over SCCP
    Then they are given directory numbers 1003 and 1004
    When "alice" closes autoregistration because "second batch done"
    Then the window closed after 2 registrations

  Scenario: The window and its limits survive a restart of the registrar
    Given autoregistration is open for 30 minutes and at most 3 registrations by "alice" because "bulk add"
    And 2 phones of model 7961 register over SCCP
    When the registrar restarts
    Then the open window is W1, opened by "alice" because "bulk add"
    And the window closes at 09:30
    And the registrar knows 2 devices, 2 of them registered
    When another phone of model 7961 registers over SCCP
    Then it is given directory number 1002
    And the window is closed because the registration limit was reached
    And the window closed after 3 registrations

  Scenario: Closing a window whose time is already up records that its time was up
    Given autoregistration is open for 30 minutes by "alice" because "bulk add"
    When 40 minutes pass before the registrar's timer ticks
    And "bob" closes autoregistration because "done"
    Then the change is accepted
    And the window is closed because the maximum duration elapsed
    And the window's close names "system" and says "maximum duration elapsed"
    And the window closed at its deadline
