@failure-mode @scenario-mfa-registration-required
Feature: MFA registration required
  MFA is required to join, the user has no MFA method and cannot register one; sign-in ends with AADSTS50079.
  Guide section: MFA or sign-in loops

  Scenario: MFA registration required: the symptom
    Given the scenario "mfa-registration-required"
    When the user tries to join the PC as the scenario describes
    Then the sign-in page shows AADSTS50079
    When the user restarts the PC and signs in with the Entra account
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : NO"
    And the device is not joined
    And the device is not enrolled in Intune
    And the admin sees error 50079 in the sign-in log
    And portal.office.com sign-in succeeds

  Scenario: MFA registration required: the fix repairs it
    Given the scenario "mfa-registration-required"
    When the user tries to join the PC as the scenario describes
    And the admin applies the scenario's fix
    And the user disconnects if needed and joins again
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : YES"
    And the device is joined
    And the device is enrolled in Intune
